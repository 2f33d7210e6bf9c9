# mk/harness.mk — test harness targets. Included at the end of the root Makefile, after
# the shim's variables (BUILD, SRCS, STATIC_LIB, ZC_CPPFLAGS, ZC_LIBS, SWIFT, CC, TEST_BINS)
# and the deps target.
#
#   make test-build        swift build --build-tests (the bundle and zc the targets below run)
#   make test-no-uring     the ZeroCopy and URing suites, `zc probe` and `zc copy` under a
#                          seccomp filter refusing io_uring: io_uring_setup → ENOSYS, → EPERM,
#                          and io_uring_register → EPERM (CShims/tests/tools/zc_seccomp_run);
#                          then all suites with ZEROCOPY_DISABLE_IO_URING=1
#   make test-unprivileged as root: the whole Swift bundle as uid 65534, again with
#                          `ulimit -l 64` (registered buffers beyond RLIMIT_MEMLOCK), and the
#                          C tests as uid 65534; skipped with a message when not root
#   make test-cp-diff      the differential harness alone: GNU cp vs zc copy on generated inputs
#                          (it also runs inside `swift test`, so `make test` includes it)
#   make fuzz              libFuzzer on the shim's range/offset arithmetic (FUZZ_TIME s, 60)
#   make fuzz-smoke        the same, for FUZZ_SMOKE_RUNS inputs (part of make test)
#
# The first two reuse the bundle `swift test` built (`swift build --build-tests` is then a
# no-op), so `make test` runs them for a few tens of seconds.

HARNESS_TOOLS  := $(BUILD)/tools
SECCOMP_RUN    := $(HARNESS_TOOLS)/zc_seccomp_run
SWIFT_BIN_DIR   = $(shell $(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)
TEST_BUNDLE     = $(SWIFT_BIN_DIR)/swift-zerocopyPackageTests.xctest
ZC_BIN          = $(SWIFT_BIN_DIR)/zc
# The suites run under each seccomp mode (Swift Testing --filter, a regular expression).
NO_URING_FILTER ?= ZeroCopyTests\.|URingTests\.

.PHONY: test-build test-no-uring test-unprivileged test-cp-diff test-fork-storm fuzz fuzz-smoke

$(SECCOMP_RUN): CShims/tests/tools/zc_seccomp_run.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $<

test-build: deps
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)

test-no-uring: test-build $(SECCOMP_RUN)
	@bash mk/harness.sh no-uring "$(TEST_BUNDLE)" "$(ZC_BIN)" "$(CURDIR)/$(SECCOMP_RUN)" '$(NO_URING_FILTER)' '$(SERVER_SUITES)'

test-cp-diff: test-build
	"$(TEST_BUNDLE)" --testing-library swift-testing --filter 'CpDifferentialTests'

test-unprivileged: test-build $(TEST_BINS)
	@bash mk/harness.sh unprivileged "$(TEST_BUNDLE)" "$(CURDIR)/$(TESTOUT)"

# A flake hunt, not part of `make test`: every suite but the file server's, beside a test
# that forks children without pause for FORK_STORM_SECONDS (Tests/LinuxIOTests/
# ForkStormTests.swift). A test that assumes a closed peer is gone at once fails here far
# more often than in CI. Probabilistic: run it a few times.
FORK_STORM_SECONDS ?= 60
test-fork-storm: test-build
	ZC_FORK_STORM_SECONDS=$(FORK_STORM_SECONDS) $(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS) --skip 'FileServerTests\.'

# ----------------------------------------------------------------------------
# libFuzzer: the pure range/offset arithmetic of the shim (CShims/src/zc_arith.h),
# with the invariants asserted in CShims/tests/fuzz/fuzz_arith.c. clang links with
# gold by default here, which fails: -fuse-ld=bfd (as sanitize-c does).
# ----------------------------------------------------------------------------
FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_BIN        := $(FUZZ_DIR)/fuzz_arith
FUZZ_SEEDS      := CShims/tests/fuzz/corpus
FUZZ_TIME       ?= 60
FUZZ_SMOKE_RUNS ?= 1000000
FUZZ_CC         ?= clang
FUZZ_FLAGS      := -fuse-ld=bfd -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                   -fno-omit-frame-pointer -std=c11 -Wall -Wextra -Werror

$(FUZZ_BIN): CShims/tests/fuzz/fuzz_arith.c CShims/tests/arith_invariants.h CShims/src/zc_arith.h
	@mkdir -p $(@D)
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "fuzz: $(FUZZ_CC) is not installed (apt-get install clang)" >&2; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -ICShims/src -ICShims/include -o $@ $<

# A bounded run: FUZZ_TIME seconds from the checked-in seeds; new inputs go to a scratch
# corpus under build/ (the seeds are not modified). A violated invariant aborts with the
# input saved as build/fuzz/crash-*.
fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/corpus
	cd $(FUZZ_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ./fuzz_arith -max_total_time=$(FUZZ_TIME) -print_final_stats=1 corpus $(CURDIR)/$(FUZZ_SEEDS)

fuzz-smoke: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/smoke
	@cd $(FUZZ_DIR) && ASAN_OPTIONS=detect_leaks=1 ./fuzz_arith -runs=$(FUZZ_SMOKE_RUNS) -seed=1 smoke $(CURDIR)/$(FUZZ_SEEDS) >smoke.log 2>&1 \
	  || { tail -n 40 smoke.log; echo "fuzz-smoke: FAILED (log: $(FUZZ_DIR)/smoke.log)" >&2; exit 1; }
	@echo "fuzz-smoke: $(FUZZ_SMOKE_RUNS) inputs, invariants held ($$(grep -c . $(FUZZ_SEEDS)/* | wc -l) seeds; $$(tail -n 1 $(FUZZ_DIR)/smoke.log))"
