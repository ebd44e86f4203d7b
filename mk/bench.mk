# Benchmarks: measured side by side in one run, reported as ratios (never pass/fail).
.PHONY: bench bench-deploy bench-proxy bench-proxy-deps dhow-release proxy-release

dhow-release:
	$(CARGO) build --release -p dhow

proxy-release:
	$(CARGO) build --release -p dhow-proxy

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

# nginx, haproxy, caddy, wrk and ab (apache2-utils) from Debian's packages (none is started as a service).
bench-proxy-deps:
	@missing=""; for p in nginx-light haproxy caddy wrk apache2-utils; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

bench-proxy: bench-proxy-deps proxy-release
	bash bench/proxy.sh

bench: bench-deploy bench-proxy
