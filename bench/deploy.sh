#!/usr/bin/env bash
# make bench-deploy: what dhow adds on top of the app's own start.
#
# Measured side by side in one run on the sandbox:
#   - the wall time of `dhow deploy --skip-push` (image already on the hosts) to 1 host and to
#     every sandbox host, alternating two versions so each run really switches;
#   - the demo app's own start-to-healthy time on a host: `docker run` until /up answers 200,
#     timed on the host itself (no SSH, no proxy);
# then the ratios (tool overhead) and the SSH channels (round trips) each host took.
# Needs: make sandbox demo-bin proxy-static, and a release build of dhow (the target does it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
DHOW="${DHOW:-./target/release/dhow}"
STATE="${SANDBOX_STATE:-sandbox/.state}"
# shellcheck disable=SC1091
. "$STATE/env"
read -r -a HOSTS <<<"$SANDBOX_HOSTS"
read -r -a CONTAINERS <<<"$SANDBOX_CONTAINERS"

work="$(mktemp -d /tmp/dhow-bench-deploy.XXXXXX)"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/config" "$work/app/bin"
cp demo/Dockerfile "$work/app/Dockerfile"
cp demo/bin/dhow-demo "$work/app/bin/dhow-demo"
host_list="$(printf '"%s", ' "${HOSTS[@]}" | sed 's/, $//')"
cat >"$work/config/deploy.toml" <<EOF
service = "bench"
image = "dhow-bench/app"
servers = [$host_list]
retain_containers = 2
[builder]
context = "app"
[proxy]
host = "bench.test"
app_port = 3000
[proxy.healthcheck]
path = "/up"
interval = "100ms"
[ssh]
user = "root"
port = $SANDBOX_SSH_PORT
keys = ["$(realpath "$SANDBOX_KEY")"]
known_hosts = "$(realpath "$SANDBOX_KNOWN_HOSTS")"
EOF
dhow() { (cd "$work" && "$OLDPWD/$DHOW" "$@"); }
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "== delivering versions b1 and b2 to ${HOSTS[*]} (not measured)"
dhow deploy -q --version b1 >/dev/null
dhow deploy -q --version b2 >/dev/null

: >"$work/one" ; : >"$work/all" ; : >"$work/app.times"
version=b1
for i in $(seq 1 "$ROUNDS"); do
  t0=$(now); dhow deploy -q --skip-push --version "$version" -h "${HOSTS[0]}" >/dev/null; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >>"$work/one"
  version=$([ "$version" = b1 ] && echo b2 || echo b1)
  t0=$(now); dhow deploy -q --skip-push --version "$version" >/dev/null; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >>"$work/all"
  # The app on its own: docker run on the host until /up answers, timed there.
  docker exec "${CONTAINERS[0]}" sh -c '
    name=dhow-bench-probe-$$
    t0=$(date +%s%N)
    docker run -d --name $name --network dhow dhow-bench/app:b1 >/dev/null
    ip=$(docker inspect -f "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}" $name)
    until curl -fs --max-time 1 "http://$ip:3000/up" >/dev/null 2>&1; do sleep 0.01; done
    t1=$(date +%s%N)
    docker rm -f $name >/dev/null
    echo $(( (t1 - t0) / 1000 ))' | awk '{printf "%.6f\n", $1 / 1000000}' >>"$work/app.times"
  echo "round $i/$ROUNDS done"
done

channels="$(dhow deploy --json --skip-push --version b1 | grep '"event":"ssh"' |
  sed -E 's/.*"channels":([0-9]+).*"host":"([^"]+)".*/\2: \1 channels/' | paste -sd ',' - | sed 's/,/, /g')"

one=$(median <"$work/one"); all=$(median <"$work/all"); app=$(median <"$work/app.times")
echo
echo "dhow deploy --skip-push, median of $ROUNDS runs (release build, sandbox hosts)"
printf '%-44s %10s %8s\n' "what" "seconds" "ratio"
printf '%-44s %10.3f %8s\n' "demo app alone: docker run -> /up 200" "$app" "1.00"
printf '%-44s %10.3f %8.2f\n' "dhow deploy, 1 host" "$one" "$(ratio "$one" "$app")"
printf '%-44s %10.3f %8.2f\n' "dhow deploy, ${#HOSTS[@]} hosts" "$all" "$(ratio "$all" "$app")"
echo "SSH per host for one deploy: 1 connection each; $channels"
echo "(a channel is an exec, a Docker API call or a proxy-control call: at least one round trip)"
