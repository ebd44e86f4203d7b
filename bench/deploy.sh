#!/usr/bin/env bash
# make bench-deploy: dhow's deploy on 1, 10 and 25 sandbox hosts beside this machine's own
# limit for the same work, measured in the same run.
#
# For each host count N (SIZES, those the sandbox has), in interleaved rounds (each round
# measures every N both ways, alternating which goes first, so a slow minute of the machine
# falls on both):
#   - dhow: the wall time of `dhow deploy --skip-push -h <the first N hosts>` (the image is on
#     the hosts already), each run to a version none of those hosts runs, so every host really
#     starts a container, health-checks it through the proxy and switches;
#   - limit: the same app started directly on the same N hosts at once with no dhow: per host
#     in parallel, one `ssh` connection running `docker run` and polling the container's /up
#     until it answers 200 (as often as the proxy's health check polls), timed from before the
#     first ssh starts until the last host is healthy. The limit's containers are removed
#     afterwards, untimed.
# Then medians, the ratio dhow / limit, and for one more deploy per N: SSH connections per host
# (counted in each host's sshd log), channels opened per host (dhow's `--json` ssh event; each
# is at least one round trip: an exec, a Docker API call or a proxy control call) and the remote
# commands and Docker API calls per host in dhow's `-vv --log-format json` log, whose step
# timings are kept for profiling (PROFILE_DIR).
# Needs: a running sandbox (mk/bench.mk starts one with 25 hosts), make demo-bin proxy-static,
# and a release build of dhow (the make target does all of it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
SIZES="${SIZES:-1 10 25}"
DHOW="${DHOW:-./target/release/dhow}"
STATE="${SANDBOX_STATE:-sandbox/.state}"
# shellcheck disable=SC1091
. "$STATE/env"
read -r -a HOSTS <<<"$SANDBOX_HOSTS"
read -r -a CONTAINERS <<<"$SANDBOX_CONTAINERS"
KEY="$(realpath "$SANDBOX_KEY")"
KNOWN="$(realpath "$SANDBOX_KNOWN_HOSTS")"
HEALTH_MS=20 # the proxy's health-check interval, and how often the limit's loop polls
HEALTH_S=$(awk -v ms="$HEALTH_MS" 'BEGIN {print ms / 1000}')

sizes=()
for n in $(tr ' ' '\n' <<<"$SIZES" | sort -n -u); do # growing: see pick
  if [ "$n" -le "${#HOSTS[@]}" ]; then sizes+=("$n"); else
    echo "(skipping N=$n: the sandbox has ${#HOSTS[@]} hosts; SANDBOX_HOSTS=$n bash sandbox/sandbox.sh up)" >&2
  fi
done
[ ${#sizes[@]} -gt 0 ] || { echo "no host count fits the sandbox" >&2; exit 1; }

work="$(mktemp -d /tmp/dhow-bench-deploy.XXXXXX)"
PROFILE_DIR="${PROFILE_DIR:-$work/profile}"
mkdir -p "$PROFILE_DIR"
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
interval = "${HEALTH_MS}ms"
[ssh]
user = "root"
port = $SANDBOX_SSH_PORT
keys = ["$KEY"]
known_hosts = "$KNOWN"
EOF
root="$PWD"
dhow() { (cd "$work" && "$root/$DHOW" "$@"); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f\n", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
first() { printf '%s,' "${HOSTS[@]:0:$1}" | sed 's/,$//'; }
on_host() { # ip command: one ssh connection, as a user of plain OpenSSH would make it
  ssh -q -i "$KEY" -o UserKnownHostsFile="$KNOWN" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o ConnectTimeout=20 -p "$SANDBOX_SSH_PORT" "root@$1" "$2"
}

# Versions: each deploy goes to one that none of its hosts runs (three suffice: every
# deploy leaves its first N hosts on one version, and the sizes grow within a round).
VERSIONS=(b1 b2 b3)
declare -A running
pick() { # n: a version none of the first n hosts runs
  local v i used
  for v in "${VERSIONS[@]}"; do
    used=0
    for ((i = 0; i < $1; i++)); do [ "${running[${HOSTS[$i]}]:-}" = "$v" ] && used=1; done
    [ "$used" = 0 ] && { echo "$v"; return; }
  done
  echo "no free version for $1 hosts" >&2
  exit 1
}
deployed() { local i; for ((i = 0; i < $1; i++)); do running[${HOSTS[$i]}]=$2; done; }

echo "== delivering versions ${VERSIONS[*]} to ${#HOSTS[@]} hosts (not measured)"
for v in "${VERSIONS[@]}"; do
  dhow deploy -q --version "$v" >/dev/null
  deployed "${#HOSTS[@]}" "$v"
done

# The app alone on the first n hosts at once, per host over one ssh connection; prints the
# seconds until the last is healthy. Two ways: the Engine API straight on the host's socket
# (curl: create, start, inspect, then poll /up; the tightest this machine allows) and the
# docker CLI (`docker run`, `docker inspect`, poll), what one would type by hand.
LIMIT_NAME=dhow-bench-limit
IMAGE="dhow-bench/app:${VERSIONS[0]}"
API="curl -fs --max-time 20 --unix-socket /var/run/docker.sock"
POLL="for _ in \$(seq 1 1500); do
    curl -fs --max-time 1 -o /dev/null http://\$ip:3000/up && exit 0; sleep $HEALTH_S
  done; exit 1"
LIMIT_API="id=\$($API -H 'Content-Type: application/json' \
    -d '{\"Image\":\"$IMAGE\",\"HostConfig\":{\"NetworkMode\":\"dhow\"}}' \
    'http://engine/containers/create?name=$LIMIT_NAME' | sed -E 's/.*\"Id\":\"([0-9a-f]+)\".*/\\1/') &&
  $API -X POST http://engine/containers/\$id/start &&
  ip=\$($API http://engine/containers/\$id/json | grep -o '\"IPAddress\":\"[0-9][0-9.]*\"' | head -1 | cut -d'\"' -f4) &&
  $POLL"
LIMIT_CLI="docker run -d --name $LIMIT_NAME --network dhow $IMAGE >/dev/null &&
  ip=\$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $LIMIT_NAME) &&
  $POLL"
limit() { # n script
  local t0 pids=() i failed=0
  t0=$(now)
  for ((i = 0; i < $1; i++)); do
    on_host "${HOSTS[$i]}" "$2" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  since "$t0"
  for ((i = 0; i < $1; i++)); do on_host "${HOSTS[$i]}" "docker rm -f $LIMIT_NAME >/dev/null" & done
  wait
  [ "$failed" = 0 ] || { echo "the app did not become healthy on every host" >&2; return 1; }
}

measure_dhow() { # n
  local v t0
  v=$(pick "$1")
  t0=$(now)
  dhow deploy -q --skip-push --version "$v" -h "$(first "$1")" >/dev/null
  since "$t0"
  deployed "$1" "$v"
}

measure() { # what n
  case "$1" in
    dhow) measure_dhow "$2" ;;
    api) limit "$2" "$LIMIT_API" ;;
    cli) limit "$2" "$LIMIT_CLI" ;;
  esac >>"$work/$1.$2"
}

# Each round runs the three in another order (rotated), so none always goes first.
order=(dhow api cli)
for r in $(seq 1 "$ROUNDS"); do
  for n in "${sizes[@]}"; do
    for k in 0 1 2; do measure "${order[$(((r + k) % 3))]}" "$n"; done
  done
  echo "round $r/$ROUNDS: $(for n in "${sizes[@]}"; do printf 'N=%s dhow %ss api %ss cli %ss; ' "$n" "$(tail -1 "$work/dhow.$n")" "$(tail -1 "$work/api.$n")" "$(tail -1 "$work/cli.$n")"; done)"
done

# One more deploy per N, not timed: SSH connections from each host's sshd log, channels from
# dhow's --json events, remote commands and API calls from its -vv JSON log.
accepted() { # n: per host, how many SSH logins its sshd has logged
  local i
  for ((i = 0; i < $1; i++)); do
    docker exec "${CONTAINERS[$i]}" grep -c 'Accepted publickey' /var/log/sshd.log || true
  done
}
for n in "${sizes[@]}"; do
  accepted "$n" >"$work/sshd.before"
  v=$(pick "$n")
  dhow deploy --json -vv --log-format json --skip-push --version "$v" -h "$(first "$n")" \
    >"$PROFILE_DIR/events.$n.json" 2>"$PROFILE_DIR/log.$n.json"
  deployed "$n" "$v"
  accepted "$n" >"$work/sshd.after"
  paste "$work/sshd.before" "$work/sshd.after" | awk '{print $2 - $1}' >"$work/conns.$n"
done

python3 - "$work" "$PROFILE_DIR" "$ROUNDS" "$HEALTH_MS" "${sizes[@]}" <<'EOF'
import json, statistics, sys
work, prof, rounds, ms, sizes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
def nums(path):
    return [float(x) for x in open(path).read().split()]
def span(lo, hi):
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
print()
print(f"dhow deploy --skip-push vs the app started directly on the same hosts at once")
print(f"(seconds: medians of {rounds} interleaved rounds; ratios: medians of each round's ratio)")
print(f"{'hosts':>5} {'dhow s':>7} {'limit s':>7} {'dhow/limit':>10} {'cli s':>6} {'dhow/cli':>8} "
      f"{'ssh conns/host':>14} {'channels/host':>13} {'calls/host':>10}")
for n in sizes:
    ds, ls, cs = (nums(f"{work}/{w}.{n}") for w in ("dhow", "api", "cli"))
    d, l, c = (statistics.median(x) for x in (ds, ls, cs))
    # Ratios: the median of each round's own ratio (its runs came seconds apart).
    rl = statistics.median(a / b for a, b in zip(ds, ls))
    rc = statistics.median(a / b for a, b in zip(ds, cs))
    conns = nums(f"{work}/conns.{n}")
    chans = [json.loads(line)["channels"] for line in open(f"{prof}/events.{n}.json")
             if '"event":"ssh"' in line.replace(" ", "")]
    calls = {}
    for line in open(f"{prof}/log.{n}.json"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        msg = e.get("message", "")
        host = e.get("host") or (e.get("span") or {}).get("host")
        if host and (msg.startswith("docker: ") or msg.startswith("ran ")):
            calls[host] = calls.get(host, 0) + 1
    k = list(calls.values()) or [0]
    print(f"{n:>5} {d:>7.3f} {l:>7.3f} {rl:>10.2f} {c:>6.3f} {rc:>8.2f} "
          f"{span(min(conns), max(conns)):>14} {span(min(chans or [0]), max(chans or [0])):>13} "
          f"{span(min(k), max(k)):>10}")
print("limit: per host one ssh running curl on the Engine API (create, start, inspect, poll /up")
print(f"every {ms} ms); cli: the same with docker run and docker inspect; all hosts at once.")
print("ssh conns: logins in each host's sshd log during one deploy; channels: SSH channels dhow")
print("opened per host (each an exec, a Docker API call or a proxy control call: at least one")
print("round trip); calls: remote commands and Docker API calls in dhow's -vv log per host.")
EOF
case "$PROFILE_DIR" in
  "$work"/*) echo "(PROFILE_DIR=DIR keeps dhow's -vv JSON logs of those deploys, with step timings)" ;;
  *) echo "dhow's -vv JSON logs with step timings: $PROFILE_DIR/log.N.json" ;;
esac
