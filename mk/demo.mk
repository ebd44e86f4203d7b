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

# The same proxy image built with Docker from proxy/Dockerfile (for publishing it yourself).
.PHONY: proxy-image
proxy-image: proxy-static
	mkdir -p target/proxy-image
	cp target/$(STATIC_TARGET)/release/dhow-proxy target/proxy-image/dhow-proxy
	docker build -q -f proxy/Dockerfile -t dhow-proxy:dev target/proxy-image
