# mk/serve.mk — `zc serve` (module FileServer): its tests beyond `swift test`, its fuzzer
# and its benchmark. Included at the end of the root Makefile, after mk/harness.mk (it uses
# SWIFT, SWIFT_BUILD_FLAGS, ZC_BIN, SECCOMP_RUN, BUILD and the test-build target).
#
#   make test-serve        (part of make test, about 30 s) curl and Python's http.client
#                          against `zc serve` (every strategy, checksummed), nginx on the same
#                          requests (differential), adversarial clients, SIGTERM/SIGINT, usage
#                          errors, io_uring refused by seccomp, 100,000 requests with
#                          descriptor and memory checks; then fuzz-serve-smoke
#   make fuzz-serve-smoke  libFuzzer on the HTTP layer for FUZZ_SERVE_SMOKE_RUNS inputs
#   make fuzz-serve        the same for FUZZ_SERVE_TIME seconds (default 300)
#   make soak-serve        test-serve's checks with SOAK_SERVE_REQUESTS requests (1,000,000)
#   make bench-serve       wrk against zc serve (each strategy), nginx (sendfile on/off) and
#                          Hummingbird 2 (Benchmarks/ServePeers); see Docs/Serve.md
#
# What is missing (curl, python3, nginx-light, wrk) is installed with apt-get when root.

SWIFTC                 ?= swiftc
SERVE_TEST_REQUESTS    ?= 100000
SOAK_SERVE_REQUESTS    ?= 1000000
FUZZ_SERVE_DIR         := $(BUILD)/fuzz-serve
FUZZ_SERVE_BIN         := $(FUZZ_SERVE_DIR)/fuzz_http
FUZZ_SERVE_SEEDS       := Tests/FileServerFuzz/corpus
FUZZ_SERVE_SOURCES     := $(sort $(wildcard Sources/FileServer/HTTP/*.swift)) Tests/FileServerFuzz/FuzzHTTP.swift
FUZZ_SERVE_SMOKE_RUNS  ?= 150000
FUZZ_SERVE_TIME        ?= 300
# libFuzzer's limits: a 5 s input is a hang, 1 GiB of RSS or a 256 MiB allocation a leak.
FUZZ_SERVE_LIMITS      := -max_len=4096 -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=256

.PHONY: serve-deps test-serve fuzz-serve fuzz-serve-smoke soak-serve bench-serve bench-serve-build

# Installs what the serve tests use, as `make deps` does (root and apt-get), or says what
# is missing.
serve-deps:
	@missing=""; command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v python3 >/dev/null 2>&1 || missing="$$missing python3"; \
	command -v nginx >/dev/null 2>&1 || missing="$$missing nginx-light"; \
	if [[ -n "$$missing" ]]; then \
	  if [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
	    echo "serve-deps: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo "serve-deps: missing$$missing (not root or no apt-get): install them, or the checks that need them fail or skip" >&2; fi; \
	fi

$(FUZZ_SERVE_BIN): $(FUZZ_SERVE_SOURCES)
	@mkdir -p $(@D)
	SWIFT_BACKTRACE=enable=no $(SWIFTC) -sanitize=fuzzer,address -parse-as-library -O -g -use-ld=lld \
	  $(FUZZ_SERVE_SOURCES) -o $@

fuzz-serve-smoke: $(FUZZ_SERVE_BIN)
	@mkdir -p $(FUZZ_SERVE_DIR)/smoke
	@cd $(FUZZ_SERVE_DIR) && SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 ./fuzz_http -runs=$(FUZZ_SERVE_SMOKE_RUNS) -seed=1 \
	  $(FUZZ_SERVE_LIMITS) smoke $(CURDIR)/$(FUZZ_SERVE_SEEDS) >smoke.log 2>&1 \
	  || { tail -n 40 smoke.log; echo "fuzz-serve-smoke: FAILED (log: $(FUZZ_SERVE_DIR)/smoke.log; input: $(FUZZ_SERVE_DIR)/crash-*)" >&2; exit 1; }
	@echo "fuzz-serve-smoke: $(FUZZ_SERVE_SMOKE_RUNS) inputs, invariants held ($$(tail -n 1 $(FUZZ_SERVE_DIR)/smoke.log))"

fuzz-serve: $(FUZZ_SERVE_BIN)
	@mkdir -p $(FUZZ_SERVE_DIR)/corpus
	cd $(FUZZ_SERVE_DIR) && SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 ./fuzz_http -max_total_time=$(FUZZ_SERVE_TIME) \
	  -print_final_stats=1 $(FUZZ_SERVE_LIMITS) corpus $(CURDIR)/$(FUZZ_SERVE_SEEDS)

test-serve: test-build $(SECCOMP_RUN) serve-deps
	@start=$$(date +%s); rc=0; \
	python3 Tests/Serve/serve_test.py --zc "$(ZC_BIN)" --seccomp "$(CURDIR)/$(SECCOMP_RUN)" --requests $(SERVE_TEST_REQUESTS) || rc=1; \
	$(MAKE) --no-print-directory fuzz-serve-smoke || rc=1; \
	echo "test-serve: $$(( $$(date +%s) - start )) s"; exit $$rc

soak-serve: test-build $(SECCOMP_RUN) serve-deps
	python3 Tests/Serve/serve_test.py --zc "$(ZC_BIN)" --seccomp "$(CURDIR)/$(SECCOMP_RUN)" --requests $(SOAK_SERVE_REQUESTS)

# ----------------------------------------------------------------------------
# bench-serve: wrk against zc serve (each strategy), nginx (sendfile on and off, workers =
# cores, access log off) and Hummingbird 2's FileMiddleware, on 4 KiB, 64 KiB, 1 MiB and
# 64 MiB files at 1, 16 and 256 connections, 3 interleaved rounds of 5 s (about 35
# minutes on 2 cores). SERVE_BENCH_ARGS passes options (--smoke: one short round;
# --duration, --rounds, --sizes, --connections, --servers). Results: $(BENCH_OUT)/serve.*
# ----------------------------------------------------------------------------
SERVE_BENCH_PKG     := Benchmarks/ServePeers
SERVE_BENCH_SCRATCH := Benchmarks/ServePeers/.build-serve
SERVE_BENCH_BIN     := $(SERVE_BENCH_SCRATCH)/release/zerocopy-bench-serve
SERVE_HB_BIN        := $(SERVE_BENCH_SCRATCH)/release/hb-file-server
SERVE_ZC_RELEASE    := .build/release/zc
SERVE_BENCH_ARGS    ?=

bench-serve-build: deps
	@missing=""; command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v nginx >/dev/null 2>&1 || missing="$$missing nginx-light"; \
	if [[ -n "$$missing" ]]; then \
	  if [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench-serve: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo "bench-serve: missing$$missing (not root or no apt-get)" >&2; exit 1; fi; \
	fi
	$(SWIFT) build -c release --product zc
	$(SWIFT) build --package-path $(SERVE_BENCH_PKG) --scratch-path $(SERVE_BENCH_SCRATCH) -c release --product zerocopy-bench-serve
	$(SWIFT) build --package-path $(SERVE_BENCH_PKG) --scratch-path $(SERVE_BENCH_SCRATCH) -c release --product hb-file-server

bench-serve: bench-serve-build
	@mkdir -p $(BENCH_OUT)
	$(SERVE_BENCH_BIN) --zc $(CURDIR)/$(SERVE_ZC_RELEASE) --hummingbird $(CURDIR)/$(SERVE_HB_BIN) \
	  --out $(BENCH_OUT) --repo $(CURDIR) $(SERVE_BENCH_ARGS)
