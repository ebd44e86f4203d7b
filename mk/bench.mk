# Benchmarks: measured side by side in one run, reported as ratios (never pass/fail).
.PHONY: bench bench-deploy bench-delivery bench-proxy bench-proxy-deps dhow-release proxy-release

dhow-release:
	$(CARGO) build --release -p dhow

proxy-release:
	$(CARGO) build --release -p dhow-proxy --bin dhow-proxy --example bench_client

# bench-deploy runs on a sandbox of its own, BENCH_HOSTS hosts started at once and taken down
# afterwards (BENCH_KEEP_SANDBOX=1 keeps it), so the tests' sandbox keeps its two hosts.
BENCH_HOSTS ?= 25
BENCH_SANDBOX_NAME ?= dhow-bench
BENCH_IP_PREFIX ?= 127.0.100.
BENCH_STATE ?= $(CURDIR)/sandbox/.state-bench
BENCH_SANDBOX = SANDBOX_NAME=$(BENCH_SANDBOX_NAME) SANDBOX_HOSTS=$(BENCH_HOSTS) \
  SANDBOX_IP_PREFIX=$(BENCH_IP_PREFIX) SANDBOX_WITH_FRESH=0 SANDBOX_WITH_REGISTRY=0 \
  SANDBOX_STATE=$(BENCH_STATE)

bench-deploy: demo-bin proxy-static dhow-release
	$(BENCH_SANDBOX) bash sandbox/sandbox.sh up
	$(BENCH_SANDBOX) bash bench/deploy.sh; rc=$$?; \
	  [ -n "$(BENCH_KEEP_SANDBOX)" ] || $(BENCH_SANDBOX) bash sandbox/sandbox.sh down; exit $$rc

# A one-line change to an image with a 200 MB base: layers vs the whole image, 1 and 10 hosts
# of a private sandbox the script starts and removes (BENCH_HOSTS, BASE_MB, ROUNDS).
bench-delivery: sandbox-images demo-bin dhow-release
	bash bench/delivery.sh

# nginx, haproxy, caddy, wrk, ab (apache2-utils), h2load (nghttp2-client) and openssl from
# Debian's packages (none is started as a service).
bench-proxy-deps:
	@missing=""; for p in nginx-light haproxy caddy wrk apache2-utils nghttp2-client openssl curl; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Per request (bench/proxy.sh), then per connection: idle memory and TLS handshakes
# (bench/proxy_conns.sh).
bench-proxy: bench-proxy-deps proxy-release
	bash bench/proxy.sh
	bash bench/proxy_conns.sh

bench: bench-deploy bench-delivery bench-proxy
