# dhow: build, test, sandbox and demo targets. Feature areas add their targets in mk/*.mk.
.PHONY: build release test fmt clippy
CARGO ?= cargo
# Development builds find the `make proxy-static` binary at run time instead of embedding the
# proxy for every architecture (build.rs; `cargo install` embeds them).
export DHOW_EMBED_PROXY ?= off

build:
	$(CARGO) build

release:
	$(CARGO) build --release

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

-include mk/*.mk
