#!/usr/bin/env bash
# make bench-delivery: what a registry-free deploy sends after a one-line change.
#
# An app image with a 200 MB base layer (random bytes: no compression helps), the demo binary
# and a 2 MB code layer. Each round changes one line in the code layer and delivers the new
# version with `dhow build deliver` (build, then only the delivery step: nothing is started),
# once with `delivery = "layers"` and once with `delivery = "stream"`, interleaved, to 1 host
# and to 10 hosts of a private sandbox started for the run. Reported per case (medians): the
# seconds, the bytes dhow sent each host (its `transfer` events; for layers the same count
# tests/e2e_layers.rs checks against the bytes the hosts received), the changed layer's compressed size
# (from the layer cache's manifests) and the ratios: bytes / changed layer, stream / layers.
# Needs: the sandbox images (make sandbox-images), make demo-bin, a release dhow (the target
# builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
HOSTS_MAX="${BENCH_HOSTS:-10}"
BASE_MB="${BASE_MB:-200}"
DHOW="$PWD/${DHOW:-target/release/dhow}"
export SANDBOX_NAME="${SANDBOX_NAME:-dhow-bench-delivery}"
export SANDBOX_IP_PREFIX="${SANDBOX_IP_PREFIX:-127.0.36.}"
export SANDBOX_HOSTS="$HOSTS_MAX" SANDBOX_WITH_FRESH=0 SANDBOX_WITH_REGISTRY=0
export SANDBOX_STATE="${SANDBOX_STATE:-$PWD/sandbox/.state-bench-delivery}"

work="$(mktemp -d /tmp/dhow-bench-delivery.XXXXXX)"
cleanup() {
  rm -rf "$work"
  [ "${BENCH_KEEP_SANDBOX:-0}" = 1 ] || bash sandbox/sandbox.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== starting a private sandbox of $HOSTS_MAX hosts ($SANDBOX_NAME)"
bash sandbox/sandbox.sh up >/dev/null
# shellcheck disable=SC1091
. "$SANDBOX_STATE/env"
read -r -a HOSTS <<<"$SANDBOX_HOSTS"

mkdir -p "$work/config" "$work/app/bin" "$work/code" "$work/cache"
export XDG_CACHE_HOME="$work/cache"
cp demo/bin/dhow-demo "$work/app/bin/dhow-demo"
head -c "$((BASE_MB * 1000000))" /dev/urandom >"$work/base.bin"
head -c 2000000 /dev/urandom >"$work/code/lib.bin"
cat >"$work/Dockerfile" <<'EOF'
FROM scratch
COPY base.bin /base.bin
COPY app/bin/dhow-demo /dhow-demo
COPY code/ /code/
EXPOSE 3000
ENTRYPOINT ["/dhow-demo"]
EOF
host_list="$(printf '"%s", ' "${HOSTS[@]}" | sed 's/, $//')"
config() {
  cat >"$work/config/deploy.toml" <<EOF
service = "benchdel"
image = "dhow-bench/delivery"
servers = [$host_list]
delivery = "$1"
[builder]
context = "."
[proxy]
host = "benchdel.test"
app_port = 3000
[ssh]
user = "root"
port = $SANDBOX_SSH_PORT
keys = ["$(realpath "$SANDBOX_KEY")"]
known_hosts = "$(realpath "$SANDBOX_KNOWN_HOSTS")"
EOF
}
dhow() { (cd "$work" && "$DHOW" "$@"); }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "== the base version on every host (not measured)"
config layers
echo base >"$work/code/version.txt"
dhow build deliver -q --version d0 >/dev/null
prev="$(docker image inspect -f '{{.Id}}' dhow-bench/delivery:d0)"

# The changed layer between two images: sizes of the layers of the second not in the first.
changed_bytes() {
  python3 - "$work/cache/dhow/images" "${1#sha256:}" "${2#sha256:}" <<'PY'
import json, sys, os
d, a, b = sys.argv[1:]
la = {l["digest"] for l in json.load(open(os.path.join(d, a)))["layers"]}
print(sum(l["size"] for l in json.load(open(os.path.join(d, b)))["layers"] if l["digest"] not in la))
PY
}

n=0
for round in $(seq 1 "$ROUNDS"); do
  for hosts in 1 "$HOSTS_MAX"; do
    for mode in layers stream; do
      n=$((n + 1))
      v="d$n"
      echo "round $round: $v ($mode)" >"$work/code/version.txt"
      config "$mode"
      sel=()
      [ "$hosts" = 1 ] && sel=(-h "${HOSTS[0]}")
      t0=$(now)
      dhow build deliver --json --version "$v" "${sel[@]}" >"$work/out.json"
      t1=$(now)
      id="$(docker image inspect -f '{{.Id}}' "dhow-bench/delivery:$v")"
      # The layers mode caches every version's manifest; a stream round's image is prepared
      # here (not timed) only to know its changed layer.
      [ -f "$work/cache/dhow/images/${id#sha256:}" ] ||
        (config layers && dhow build deliver -q --version "$v" -h "${HOSTS[0]}" >/dev/null)
      changed="$(changed_bytes "$prev" "$id")"
      prev="$id"
      bytes="$(grep '"event":"transfer"' "$work/out.json" | grep '"done":true' |
        sed -E 's/.*"bytes":([0-9]+).*/\1/' | median)"
      awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >>"$work/$hosts-$mode.secs"
      echo "$bytes" >>"$work/$hosts-$mode.bytes"
      echo "$changed" >>"$work/$hosts-$mode.changed"
      echo "round $round, $hosts host(s), $mode: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s, $bytes B per host, changed layer $changed B"
    done
  done
done

echo
echo "dhow build deliver after a one-line change (${BASE_MB} MB base layer), median of $ROUNDS rounds"
printf '%-7s %-7s %9s %14s %14s %12s\n' hosts mode seconds "bytes/host" "changed layer" "bytes/layer"
for hosts in 1 "$HOSTS_MAX"; do
  for mode in layers stream; do
    s=$(median <"$work/$hosts-$mode.secs"); b=$(median <"$work/$hosts-$mode.bytes")
    c=$(median <"$work/$hosts-$mode.changed")
    printf '%-7s %-7s %9.2f %14s %14s %12.3f\n' "$hosts" "$mode" "$s" "$b" "$c" "$(awk -v a="$b" -v c="$c" 'BEGIN {print a / c}')"
  done
  ls=$(median <"$work/$hosts-layers.secs"); ss=$(median <"$work/$hosts-stream.secs")
  echo "  $hosts host(s): stream / layers seconds = $(awk -v a="$ss" -v b="$ls" 'BEGIN {printf "%.2f", a / b}')"
done
echo "(seconds include the build of the changed layer and, for layers, the local export into the cache)"
