#!/usr/bin/env bash
# Installs the Debian packages dhow's sandbox, tests and benchmarks need (root, apt-get).
# Safe to run again: apt-get skips what is installed.
set -euo pipefail
# pebble: the ACME test CA (and its DNS) that proxy/tests/acme.rs gets certificates from.
# python3: the layout checks of `make lint` (tests/layout/).
# gcc-aarch64-linux-gnu: the aarch64 dhow-proxy that `cargo install` embeds (tests/e2e_install.rs);
# qemu-user-static: runs that binary in the test.
# prometheus: the real Prometheus examples/client-api-metrics scrapes the proxy with;
# haproxy: the load balancer in front of two hosts in examples/ (tests/example_*.rs).
pkgs=(docker.io debootstrap openssh-client docker-registry apache2-utils curl wrk make pebble python3
  gcc-aarch64-linux-gnu qemu-user-static prometheus haproxy)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The aarch64 Rust standard library, for the same embedded proxy (build.rs).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu >/dev/null
fi

# kubernetes-validate (PyPI): tests/cli_kube.rs checks `dhow kube export` against the OpenAPI
# schemas of Kubernetes 1.35-1.37 that this version carries (offline). Pinned so the schemas
# do not change under the test; the test fails, never skips, without it.
kv=1.37.0
if ! python3 -m pip show kubernetes-validate 2>/dev/null | grep -qx "Version: $kv"; then
  python3 -m pip install --quiet "kubernetes-validate==$kv" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "kubernetes-validate==$kv"
fi
# Under pyenv a script installed by `python3 -m pip` gets its shim only at a rehash.
if command -v pyenv >/dev/null; then pyenv rehash; fi
command -v kubernetes-validate >/dev/null || {
  echo "kubernetes-validate was installed but is not on PATH" >&2
  exit 1
}
