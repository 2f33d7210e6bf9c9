# mk/house.mk — the repository's own rules, documentation and style. Included at the end of
# the root Makefile (after SWIFT, SWIFT_BUILD_FLAGS, BUILD and the deps target).
#
#   make check-layers   Docs/Architecture.md's import table, enforced (mk/check-layers.py)
#   make check-samples  every ```swift / ```c sample in README, Docs/, the DocC catalogs and
#                       doc comments compiles against this build (mk/check-samples.py)
#   make docs           the DocC catalogs of LinuxIO, URing and ZeroCopy into build/docs/,
#                       warnings treated as errors (swift-docc-plugin)
#   make check-repo     the three above and format-check (part of make test)
#   make format         swift-format (the toolchain's) over Sources/, Tests/, Benchmarks/,
#                       with .swift-format, in place
#   make format-check   the same without writing: fails and lists the files it would change
#
# python3 runs the two checkers; `make deps` does not install it (Debian images with the
# Swift toolchain have it); a missing python3 is reported with the apt-get line.

DOCS_OUT        ?= $(BUILD)/docs
PYTHON          ?= python3
FORMAT_PATHS    := Sources Tests Benchmarks/Sources Benchmarks/Tests Benchmarks/Benchmarks Package.swift Benchmarks/Package.swift
SWIFT_FORMAT    ?= $(SWIFT) format

.PHONY: check-layers check-samples docs check-repo format format-check house-python

house-python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is missing: apt-get install -y python3" >&2; exit 1; }

check-layers: house-python
	@$(PYTHON) mk/check-layers.py $(CURDIR)

check-samples: house-python deps bench-build
	@$(SWIFT) build $(SWIFT_BUILD_FLAGS) >/dev/null
	@$(PYTHON) mk/check-samples.py $(CURDIR) "$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)" --jobs 2

# All three with every docc check, parameter and return validation included. The plugin
# builds in the normal scratch path (.build) and only extracts symbol graphs: the test
# build stays valid.
DOCC_FLAGS :=
docs: deps
	@rm -rf $(DOCS_OUT); mkdir -p $(DOCS_OUT)
	$(SWIFT) package $(DOCC_FLAGS) --allow-writing-to-directory $(DOCS_OUT) \
	  generate-documentation --target LinuxIO --target URing --target ZeroCopy --output-path $(DOCS_OUT) --warnings-as-errors
	@echo "docs: $$(ls -d $(DOCS_OUT)/*.doccarchive | wc -l) archives in $(DOCS_OUT)/ (LinuxIO, URing, ZeroCopy)"

check-repo:
	@set +e; \
	$(MAKE) --no-print-directory check-layers; layers=$$?; \
	$(MAKE) --no-print-directory check-samples; samples=$$?; \
	$(MAKE) --no-print-directory docs; docs=$$?; \
	$(MAKE) --no-print-directory format-check; format=$$?; \
	echo "check-repo: check-layers $$( [[ $$layers -eq 0 ]] && echo PASS || echo FAIL), check-samples $$( [[ $$samples -eq 0 ]] && echo PASS || echo FAIL), docs $$( [[ $$docs -eq 0 ]] && echo PASS || echo FAIL), format-check $$( [[ $$format -eq 0 ]] && echo PASS || echo FAIL)"; \
	[[ $$layers -eq 0 && $$samples -eq 0 && $$docs -eq 0 && $$format -eq 0 ]]

# swift-format ships with the toolchain (`swift format`). `make format-check` is part of
# check-repo (so of make test and CI): run `make format` before committing Swift code.
format:
	$(SWIFT_FORMAT) format --configuration .swift-format --in-place --parallel --recursive $(FORMAT_PATHS)

format-check:
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/zc-format.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	find $(FORMAT_PATHS) -name '*.swift' -not -path '*/.build*' | while read -r f; do \
	  mkdir -p "$$tmp/new/$$(dirname "$$f")"; cp "$$f" "$$tmp/new/$$f"; done; \
	$(SWIFT_FORMAT) format --configuration .swift-format --in-place --parallel --recursive "$$tmp/new" 2>"$$tmp/log" \
	  || { cat "$$tmp/log" >&2; exit 1; }; \
	changed=$$(find $(FORMAT_PATHS) -name '*.swift' -not -path '*/.build*' | while read -r f; do \
	  cmp -s "$$f" "$$tmp/new/$$f" || echo "$$f"; done); \
	if [[ -z "$$changed" ]]; then echo "format-check: clean"; exit 0; fi; \
	lines=$$(find $(FORMAT_PATHS) -name '*.swift' -not -path '*/.build*' | while read -r f; do \
	  diff -U0 "$$f" "$$tmp/new/$$f" | grep -c '^+[^+]' || true; done | awk '{s+=$$1} END {print s}'); \
	echo "format-check: $$(echo "$$changed" | wc -l) files would change ($$lines lines); make format fixes them:" >&2; \
	echo "$$changed" | sed 's/^/  /' >&2; exit 1
