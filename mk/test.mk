# Tests: unit and in-process tests first, then end-to-end tests against the sandbox.
.PHONY: test test-unit test-e2e deps

deps:
	bash sandbox/deps.sh

test-unit:
	$(CARGO) test --workspace

test-e2e: sandbox sandbox-postgres demo-image proxy-static
	$(CARGO) test --features e2e --test 'e2e_*'

test: deps lint test-unit test-e2e test-examples

# The example deployments of examples/ (tests/example_*.rs), one after another on the same
# sandbox as test-e2e; each prints one summary line, collected and printed at the end.
# EXAMPLES=client_api_metrics runs only that one.
EXAMPLES ?= *
.PHONY: test-examples
# Example 4 (services-bastion) needs a third host (a bastion and two app hosts); `sandbox.sh up`
# keeps the hosts already running and adds it. It is run here, not only as the `sandbox`
# prerequisite: within `make test` that one already ran for test-e2e, with two hosts.
test-examples: export SANDBOX_HOSTS ?= 3
test-examples: sandbox sandbox-postgres sandbox-redis demo-bin proxy-static
	bash sandbox/sandbox.sh up
	rm -f target/examples-summary.txt
	DHOW_EXAMPLES_SUMMARY=$(CURDIR)/target/examples-summary.txt $(CARGO) test --features e2e --test 'example_$(EXAMPLES)'
	@cat target/examples-summary.txt

# Formatting and lints, as CI checks them, and the layout rules of docs/architecture.md.
.PHONY: lint layout
lint: layout
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets --workspace --features e2e -- -D warnings

# No import cycle between src/'s top-level folders or inside proxy/src; config never imports
# the CLI; no file over ~450 lines without a reason at its top, no function over ~120 lines.
layout:
	python3 tests/layout/modgraph.py src --top
	python3 tests/layout/modgraph.py proxy/src
	python3 tests/layout/modgraph.py proxy-api/src
	@! grep -rn "crate::cli" src/config || { echo "src/config must not import the CLI"; exit 1; }
	python3 tests/layout/sizes.py src proxy/src proxy-api/src

# Faults injected into real deploys (also part of test-e2e): one line per scenario at the end.
# FAULTS=crash,cut runs only those scenarios.
.PHONY: test-faults
test-faults: sandbox demo-image proxy-static
	$(CARGO) test --features e2e --test e2e_faults -- --nocapture
