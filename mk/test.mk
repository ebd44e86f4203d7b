# Tests: unit and in-process tests first, then end-to-end tests against the sandbox.
.PHONY: test test-unit test-e2e deps

deps:
	bash sandbox/deps.sh

test-unit:
	$(CARGO) test --workspace

test-e2e: sandbox sandbox-postgres demo-image proxy-static
	$(CARGO) test --features e2e --test 'e2e_*'

test: deps lint test-unit test-e2e

# Formatting and lints, as CI checks them.
.PHONY: lint
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets --workspace --features e2e -- -D warnings

# Faults injected into real deploys (also part of test-e2e): one line per scenario at the end.
# FAULTS=crash,cut runs only those scenarios.
.PHONY: test-faults
test-faults: sandbox demo-image proxy-static
	$(CARGO) test --features e2e --test e2e_faults -- --nocapture
