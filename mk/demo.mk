# The demo app: a static binary copied into a FROM-scratch image (no base image to pull).
.PHONY: demo-bin demo-image
STATIC_TARGET := x86_64-unknown-linux-gnu

demo-bin:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p dhow-demo --target $(STATIC_TARGET)
	mkdir -p demo/bin
	cp target/$(STATIC_TARGET)/release/dhow-demo demo/bin/dhow-demo

demo-image: demo-bin
	docker build -q -t dhow/demo:dev demo

# The static dhow-proxy binary dhow turns into the proxy image (no base image, no registry).
.PHONY: proxy-static
proxy-static:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p dhow-proxy --target $(STATIC_TARGET)
