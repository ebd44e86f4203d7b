# dhow: build, test, sandbox and demo targets. Feature areas add their targets in mk/*.mk.
.PHONY: build release test fmt clippy
CARGO ?= cargo

build:
	$(CARGO) build

release:
	$(CARGO) build --release

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

-include mk/*.mk
