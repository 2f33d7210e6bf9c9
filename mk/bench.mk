# mk/bench.mk — the benchmark targets. Included at the end of the root Makefile
# (`include mk/bench.mk`), after the shim's variables (STATIC_LIB, HEADERS, ZC_CPPFLAGS,
# ZC_LIBS, SWIFT, CC) and the `deps` and `shim` targets it uses.
#
#   make bench        the default run (about 5 minutes on 2 cores, build excluded):
#                     C references + release build of zerocopy-bench + `zerocopy-bench run`
#   make bench-quick  about a minute (3 rounds, sizes up to 64 MiB)
#   make bench-peers  the default run plus fio (apt-get install when missing) and SwiftNIO
#                     (Benchmarks/Peers, built only here)
#   make bench-test   the smoke run with a planted corrupting strategy, checked: every
#                     registered strategy present, every run verified, ratios computed,
#                     the corrupting strategy caught; plus the strace cross-check of the
#                     library's syscall counts (skipped with a message when strace is absent)
#   make bench-check  package-benchmark suites with thresholds on deterministic metrics
#   make bench-kit-test  BenchKit's tests; make bench-user-test  the benchmark driven from
#                     another package (Benchmarks/Tests/Fixtures/UserBench); both in bench-test
#   make bench-direct O_DIRECT 4 KiB random reads: pread QD1, io_uring QD1/8/32, thread
#                     pools, the async engine and fio, on a 4 GiB file (about 2 minutes)
#   make bench-tree   tree copy of 2,000 files (4 KiB, 64 KiB; ext4 and tmpfs; new tree and
#                     over an existing one): cp -r/-rT vs zc copy -r engines (about 4 minutes)
#   make bench-reflink  1 GiB by reflink vs copy_file_range vs cp --reflink=never on a
#                     loop-mounted XFS (root + mkfs.xfs; skipped with a reason otherwise)
#   make bench-where  the three above (issue 5: where io_uring and concurrency win)
#   make bench-sparse a 3 GiB file holding 8 KiB of data: cp vs Transfer.copy (holes kept),
#                     ext4 and tmpfs, wall time and blocks allocated (issue 13; seconds)
#                     Results: $(BENCH_OUT)/<name>.{md,json}
#
#   make syscalls-4k  the exact system calls of one 4 KiB transfer per route, strategy and
#                     API (runBlocking, run), traced with strace -f, into $(SYSCALLS_OUT)
#                     (default $(BENCH_OUT)/syscalls-4k.md; Docs/Performance.md)
#   make builtin-profile  rederive .automatic's built-in table on THIS machine (run it
#                     quiet): zc calibrate --thorough --fresh in $TMPDIR, written to
#                     Docs/bench/profile/builtin.profile and compiled in as
#                     CShims/src/plan_builtin.h (Docs/Transfer.md, "Host profiles")
#   make builtin-profile-header  only the header, from the committed profile
#
# BENCH_ARGS passes options to `zerocopy-bench run` (e.g. BENCH_ARGS="--cold",
# BENCH_ARGS="--dest file --sizes 1g"); `zerocopy-bench --help` lists them.

BENCH_PKG      := Benchmarks
BENCH_SCRATCH  := Benchmarks/.build-bench
BENCH_BIN      := $(BENCH_SCRATCH)/release/zerocopy-bench
BENCH_TOOLS    := $(BUILD)/bench
BENCH_C        := xfer_ref recv_ref pipe_ref uring_ops checksum_file direct_reads conc_ref
BENCH_C_BINS   := $(addprefix $(BENCH_TOOLS)/,$(BENCH_C))
BENCH_ARGS     ?=
BENCH_RUN      := $(BENCH_BIN) run --repo $(CURDIR) --tools $(CURDIR)/$(BENCH_TOOLS)
PEERS_PKG      := Benchmarks/Peers
PEERS_SCRATCH  := Benchmarks/Peers/.build-peers
NIO_BIN        := $(PEERS_SCRATCH)/release/zerocopy-bench-nio
BENCH_OUT      ?= $(BUILD)/bench-out

.PHONY: bench bench-quick bench-peers bench-test bench-check bench-tools bench-build bench-peer-tools \
        bench-direct bench-tree bench-reflink bench-where bench-where-tools bench-sparse

# C reference programs (libzerocopy + liburing), -Wall -Wextra -Werror like the shim.
$(BENCH_TOOLS)/%: Benchmarks/c/%.c Benchmarks/c/zc_checksum.h $(STATIC_LIB) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ZC_CPPFLAGS) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $< $(STATIC_LIB) $(ZC_LIBS)

bench-tools: $(BENCH_C_BINS)

# Only the zerocopy-bench product: package-benchmark (Benchmarks/Benchmarks/*) and the
# NIO peer are not compiled by this.
bench-build: deps
	$(SWIFT) build --package-path $(BENCH_PKG) --scratch-path $(BENCH_SCRATCH) -c release --product zerocopy-bench

bench: bench-tools bench-build
	$(BENCH_RUN) $(BENCH_ARGS)

bench-quick: bench-tools bench-build
	$(BENCH_RUN) --quick $(BENCH_ARGS)

bench-peer-tools:
	@if ! command -v fio >/dev/null 2>&1; then \
	  if [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench-peers: installing fio (apt-get install -y fio)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fio; \
	  else \
	    echo "bench-peers: fio is missing and cannot be installed here (not root or no apt-get); it will be reported as not measured" >&2; \
	  fi; \
	fi
	$(SWIFT) build --package-path $(PEERS_PKG) --scratch-path $(PEERS_SCRATCH) -c release --product zerocopy-bench-nio

bench-peers: bench-tools bench-build bench-peer-tools
	$(BENCH_RUN) --peers --nio $(CURDIR)/$(NIO_BIN) $(BENCH_ARGS)

# Issue 5's benchmarks. fio (the O_DIRECT reference) and xfsprogs (the reflink loop mount)
# are installed with apt-get when missing and root; otherwise those rows say why they are absent.
bench-where-tools:
	@missing=""; command -v fio >/dev/null 2>&1 || missing="$$missing fio"; \
	command -v mkfs.xfs >/dev/null 2>&1 || missing="$$missing xfsprogs"; \
	if [[ -n "$$missing" ]]; then \
	  if [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "bench: missing$$missing (not root or no apt-get): those rows are skipped" >&2; fi; \
	fi

bench-direct: bench-build bench-tools bench-where-tools
	@mkdir -p $(BENCH_OUT)
	$(BENCH_BIN) direct-reads --tools $(CURDIR)/$(BENCH_TOOLS) --json $(BENCH_OUT)/direct-reads.json --markdown $(BENCH_OUT)/direct-reads.md $(BENCH_ARGS)

bench-tree: bench-build
	@mkdir -p $(BENCH_OUT)
	$(BENCH_BIN) tree-copy --json $(BENCH_OUT)/tree-copy.json --markdown $(BENCH_OUT)/tree-copy.md $(BENCH_ARGS)

bench-reflink: bench-build bench-where-tools
	@mkdir -p $(BENCH_OUT)
	$(BENCH_BIN) reflink --json $(BENCH_OUT)/reflink.json --markdown $(BENCH_OUT)/reflink.md $(BENCH_ARGS)

bench-where: bench-direct bench-tree bench-reflink

bench-sparse: bench-build
	@mkdir -p $(BENCH_OUT)
	$(BENCH_BIN) sparse-copy --json $(BENCH_OUT)/sparse-copy.json --markdown $(BENCH_OUT)/sparse-copy.md $(BENCH_ARGS)

# The test the root `make test` runs: a smoke run (about 30 s in release) with a planted
# strategy that corrupts one byte, then the JSON check, then the strace cross-check.
bench-test: bench-tools bench-build
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/zc-bench-test.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	echo "==> zerocopy-bench run --smoke (planted corrupting strategy)"; \
	ZEROCOPY_BENCH_PLANT_CORRUPTING=1 $(BENCH_RUN) --smoke --plain --no-output --json "$$tmp/out.json" >"$$tmp/run.log" 2>&1 \
	  || { cat "$$tmp/run.log"; echo "bench-test: the smoke run failed" >&2; exit 1; }; \
	tail -n 8 "$$tmp/run.log"; \
	echo "==> zerocopy-bench check"; \
	$(BENCH_BIN) check --expect-planted "$$tmp/out.json"; \
	echo "==> zerocopy-bench reference, then report --reference (a run against itself: [steady] at 1.00×)"; \
	$(BENCH_BIN) reference "$$tmp/out.json" --out "$$tmp/ref.json"; \
	$(BENCH_BIN) report "$$tmp/out.json" --output "$$tmp/re" --reference "$$tmp/ref.json" >"$$tmp/re.log"; \
	grep -F "[steady] machine against the reference run" "$$tmp/re.log" | grep -F "took 1.00× their reference time" \
	  || { grep -A1 "^Machine" "$$tmp/re.log"; echo "bench-test: a run compared with itself is not steady at 1.00×" >&2; exit 1; }; \
	echo "==> zerocopy-bench _loop (the profiling loop of Docs/Performance.md: both sides report; a bad strategy is a usage error)"; \
	$(BENCH_BIN) _loop --strategy readWrite --count 200 --directory "$$tmp" >"$$tmp/loop.log" 2>&1 \
	  && grep -Eq '^swift:readWrite +median [0-9.]+ µs' "$$tmp/loop.log" && grep -Eq '^c:readWrite +median [0-9.]+ µs' "$$tmp/loop.log" \
	  || { cat "$$tmp/loop.log"; echo "bench-test: _loop did not report both sides" >&2; exit 1; }; \
	rc=0; $(BENCH_BIN) _loop --strategy no-such-strategy --count 1 --directory "$$tmp" >"$$tmp/loop.log" 2>&1 || rc=$$?; \
	[[ $$rc -eq 64 ]] || { cat "$$tmp/loop.log"; echo "bench-test: _loop with an unknown strategy exited $$rc, not 64" >&2; exit 1; }; \
	echo "_loop: both sides reported; an unknown strategy exits 64"; \
	echo "==> zerocopy-bench _strace-check"; \
	if ! command -v strace >/dev/null 2>&1 && [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null 2>&1 \
	    || { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null; } || true; \
	fi; \
	$(BENCH_BIN) _strace-check
	@$(MAKE) --no-print-directory bench-kit-test bench-user-test

# package-benchmark suites (Benchmarks/Benchmarks/*): thresholds on deterministic metrics
# only (mallocs, the syscalls the library counts). Built in release in the same scratch
# path as zerocopy-bench and BenchKit's tests, so package-benchmark is compiled once.
bench-check: deps
	cd $(BENCH_PKG) && $(SWIFT) package --scratch-path .build-bench --allow-writing-to-package-directory \
	  benchmark thresholds check --path Thresholds

# BenchKit's and the CLI library's tests (Benchmarks/Tests/BenchKitTests, Swift Testing), in
# release in zerocopy-bench's scratch path. --build-tests also compiles the package-benchmark
# suite (about 2.5 minutes the first time), which bench-check then reuses.
.PHONY: bench-kit-test bench-user-test
bench-kit-test: bench-tools deps
	$(SWIFT) build --package-path $(BENCH_PKG) --scratch-path $(BENCH_SCRATCH) -c release --build-tests
	$(SWIFT) test --package-path $(BENCH_PKG) --scratch-path $(BENCH_SCRATCH) -c release --skip-build

# The benchmark from another package: Benchmarks/Tests/Fixtures/UserBench registers its own
# strategy and calls ZeroCopyBenchmark.main (no edit of this repository); its strategy must
# be measured and verified in every smoke cell, next to .automatic.
USER_BENCH_PKG := Benchmarks/Tests/Fixtures/UserBench
USER_BENCH_BIN := $(USER_BENCH_PKG)/.build-user/debug/user-bench
bench-user-test: bench-tools deps
	$(SWIFT) build --package-path $(USER_BENCH_PKG) --scratch-path $(USER_BENCH_PKG)/.build-user
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/zc-user-bench.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	$(USER_BENCH_BIN) run --smoke --plain --no-output --no-reads --json "$$tmp/out.json" --repo $(CURDIR) \
	  --tools $(CURDIR)/$(BENCH_TOOLS) --only userSmallBuffers,automatic >"$$tmp/run.log" 2>&1 \
	  || { cat "$$tmp/run.log"; echo "bench-user-test: the run failed" >&2; exit 1; }; \
	$(USER_BENCH_BIN) check "$$tmp/out.json" --strategies userSmallBuffers,automatic

# .automatic's built-in table: a thorough calibration on this machine, anchored on nothing
# (--fresh), in the temporary directory's filesystem, committed as a profile and compiled
# into libzerocopy by the same parser that reads host profiles.
# The file -> TCP socket route is left out by default (its crossover is kept): on the
# project's VM six thorough calibrations minutes apart gave 128 KiB, 2 MiB, 256 KiB three
# times and 2 MiB again — sendfile and splice tie from 256 KiB up and loopback TCP's
# bimodal wake-ups decide each run (Docs/bench/profile/README.md).
# BUILTIN_PROFILE_ROUTES=sameFileSystem,otherFileSystem,pipe,socket measures it as well.
BUILTIN_PROFILE := Docs/bench/profile/builtin.profile
BUILTIN_PROFILE_ROUTES ?= sameFileSystem,otherFileSystem,pipe
.PHONY: builtin-profile builtin-profile-header
builtin-profile: deps
	$(SWIFT) build -c release --product zc
	"$$($(SWIFT) build -c release --show-bin-path)/zc" calibrate --thorough --fresh --directory "$${TMPDIR:-/tmp}" \
	  --routes $(BUILTIN_PROFILE_ROUTES) \
	  --output $(BUILTIN_PROFILE) --note "make builtin-profile at $$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	@$(MAKE) --no-print-directory builtin-profile-header

builtin-profile-header:
	mk/builtin-profile.sh $(BUILTIN_PROFILE) > CShims/src/plan_builtin.h.tmp
	mv CShims/src/plan_builtin.h.tmp CShims/src/plan_builtin.h
	@echo "builtin-profile: $(BUILTIN_PROFILE) -> CShims/src/plan_builtin.h (rebuild, then commit both)"

# The system calls of a 4 KiB transfer (Docs/Performance.md): built-in table, so that a
# host profile does not change what .automatic does.
SYSCALLS_OUT ?= $(BENCH_OUT)/syscalls-4k.md
.PHONY: syscalls-4k
syscalls-4k: bench-build
	@if ! command -v strace >/dev/null 2>&1 && [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null 2>&1 \
	    || { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null; }; \
	fi
	@mkdir -p $(dir $(SYSCALLS_OUT))
	ZEROCOPY_PROFILE=builtin $(BENCH_BIN) syscalls --repo $(CURDIR) --size 4k --markdown $(SYSCALLS_OUT)
