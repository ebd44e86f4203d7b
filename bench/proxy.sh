#!/usr/bin/env bash
# make bench-proxy: dhow-proxy (binding its own sockets, and as on servers: dhow-held, its sockets
# from the port holder) beside nginx, haproxy and caddy (Debian's packages), all in
# front of the same small backend, and the backend alone, under the same wrk load, side by side
# in one run on this machine. Prints requests/s, p50/p99 latency, the proxy's peak memory
# (VmHWM, summed over its processes) and the ratios to nginx. Everything listens on 127.0.0.1;
# every process this script starts is stopped by its PID when it ends.
#
# dhow-limited is dhow-proxy with a rate limit on its route (far above the load, so no request
# is refused: it measures the cost of the check on every request); its ratio to the plain
# dhow-proxy is measured in back-to-back pairs of runs (LIMIT_PAIRS, 10). dhow-balanced is
# dhow-proxy with three targets (replicas: the same backend on three ports), so each request
# picks one (least outstanding of two at random): its ratio is measured the same way.
#
# Then many keep-alive connections (HIGH, "256 1024"): dhow-proxy, nginx and haproxy, req/s
# against haproxy's and p99 against nginx's (HIGH_ROUNDS, 3).
#
# Then other shapes of load, dhow-proxy against nginx only: HTTP/1.0 clients (ab, with and
# without keep-alive), 512 connections, 64 KiB responses, 1 KiB and 256 KiB uploads.
#
# Settings (environment): DURATION (5s), CONNECTIONS (64), THREADS (2), ROUNDS (5; rounds are
# interleaved and medians reported, each round's ratio to nginx taken within that round),
# SHAPES (1; 0 skips the other shapes, which run 3 rounds of 3 s each).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-5}"
PROXY_BIN="${PROXY_BIN:-./target/release/dhow-proxy}"
BASE_PORT="${BENCH_BASE_PORT:-18480}"
BACKEND_PORT=$BASE_PORT
DHOW_PORT=$((BASE_PORT + 1))
NGINX_PORT=$((BASE_PORT + 2))
HAPROXY_PORT=$((BASE_PORT + 3))
CADDY_PORT=$((BASE_PORT + 4))
HELD_PORT=$((BASE_PORT + 5))
LIMITED_PORT=$((BASE_PORT + 6))
BALANCED_PORT=$((BASE_PORT + 7))
BACKEND_PORT2=$((BASE_PORT + 8))
BACKEND_PORT3=$((BASE_PORT + 9))

for cmd in wrk ab nginx haproxy caddy; do
  command -v "$cmd" >/dev/null || { echo "bench-proxy: $cmd is missing (make bench-proxy installs it)" >&2; exit 1; }
done
[ -x "$PROXY_BIN" ] || { echo "bench-proxy: $PROXY_BIN missing (cargo build --release -p dhow-proxy)" >&2; exit 1; }

work="$(mktemp -d /tmp/dhow-bench-proxy.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"; [ -n "${KEEP:-}" ] && echo "kept $work" >&2; true
}
trap cleanup EXIT

# --- the backend: nginx answering a fixed 13-byte body, one worker, no logs ----------------
mkdir -p "$work/backend" "$work/nginx" "$work/caddy"
head -c 65536 /dev/zero | tr '\0' x >"$work/backend/64k"
# nginx's workers run as nobody: they read the file and write request bodies here.
chmod 755 "$work" "$work/backend"
chmod 777 "$work/nginx"
cat >"$work/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/backend/nginx.pid;
error_log $work/backend/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/backend;
  proxy_temp_path $work/backend;
  fastcgi_temp_path $work/backend;
  uwsgi_temp_path $work/backend;
  scgi_temp_path $work/backend;
  server {
    listen 127.0.0.1:$BACKEND_PORT;
    listen 127.0.0.1:$BACKEND_PORT2;
    listen 127.0.0.1:$BACKEND_PORT3;
    location / { return 200 "hello, bench\n"; }
    location = /64k { alias $work/backend/64k; }
  }
}
EOF
nginx -c "$work/backend/nginx.conf" -p "$work/backend" &
pids+=($!)

# --- the proxies, each with as many workers/threads as the machine has cores, no logs -------
cores=$(nproc)
"$PROXY_BIN" --control "$work/dhow.sock" run --http "127.0.0.1:$DHOW_PORT" \
  --state "$work/dhow-state.json" --quiet 2>"$work/dhow.log" &
dhow_pid=$!
pids+=($dhow_pid)
# dhow-held: dhow-proxy as it runs on servers, its listening sockets held by the port holder
# (`dhow-proxy hold`) and handed over (`run --listen-from`): the same data path, measured.
"$PROXY_BIN" hold --socket "$work/ports.sock" --listen "http=127.0.0.1:$HELD_PORT" 2>"$work/hold.log" &
pids+=($!)
"$PROXY_BIN" --control "$work/held.sock" run --listen-from "$work/ports.sock" \
  --state "$work/held-state.json" --quiet 2>"$work/held.log" &
held_pid=$!
pids+=($held_pid)
# dhow-limited: the same, its route rate-limited per client address (wrk is one client).
"$PROXY_BIN" --control "$work/limited.sock" run --http "127.0.0.1:$LIMITED_PORT" \
  --state "$work/limited-state.json" --quiet 2>"$work/limited.log" &
limited_pid=$!
pids+=($limited_pid)
# dhow-balanced: the same, its route over three targets (replicas).
"$PROXY_BIN" --control "$work/balanced.sock" run --http "127.0.0.1:$BALANCED_PORT" \
  --state "$work/balanced-state.json" --quiet 2>"$work/balanced.log" &
balanced_pid=$!
pids+=($balanced_pid)

cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $cores;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  client_max_body_size 10m;
  upstream app { server 127.0.0.1:$BACKEND_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
pids+=($nginx_pid)

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread $cores
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend be
backend be
  http-reuse always
  # At most 256 requests at once to the backend, queued beyond (as nginx keeps 256 idle
  # connections to it): without it haproxy opens one backend connection per client one and,
  # at 1,024 clients, the one-worker backend's p99 went to ~950 ms (2026-12-03).
  server app 127.0.0.1:$BACKEND_PORT maxconn 256
EOF
haproxy -f "$work/haproxy.cfg" -db &
haproxy_pid=$!
pids+=($haproxy_pid)

cat >"$work/caddy/Caddyfile" <<EOF
{
  admin off
  auto_https off
}
http://127.0.0.1:$CADDY_PORT {
  reverse_proxy 127.0.0.1:$BACKEND_PORT
}
EOF
XDG_DATA_HOME="$work/caddy" XDG_CONFIG_HOME="$work/caddy" HOME="$work/caddy" \
  caddy run --config "$work/caddy/Caddyfile" --adapter caddyfile >"$work/caddy/log" 2>&1 &
caddy_pid=$!
pids+=($caddy_pid)

wait_port() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "bench-proxy: nothing answers on 127.0.0.1:$1 ($2)" >&2
  exit 1
}
wait_port "$BACKEND_PORT" backend
for _ in $(seq 1 100); do [ -S "$work/dhow.sock" ] && break; sleep 0.1; done
"$PROXY_BIN" --control "$work/dhow.sock" deploy bench --target "127.0.0.1:$BACKEND_PORT" \
  --health-path / --health-interval 100ms >/dev/null
for _ in $(seq 1 100); do [ -S "$work/held.sock" ] && break; sleep 0.1; done
"$PROXY_BIN" --control "$work/held.sock" deploy bench --target "127.0.0.1:$BACKEND_PORT" \
  --health-path / --health-interval 100ms >/dev/null
for _ in $(seq 1 100); do [ -S "$work/limited.sock" ] && break; sleep 0.1; done
"$PROXY_BIN" --control "$work/limited.sock" deploy bench --target "127.0.0.1:$BACKEND_PORT" \
  --health-path / --health-interval 100ms --rate-limit 1000000000/1s >/dev/null
for _ in $(seq 1 100); do [ -S "$work/balanced.sock" ] && break; sleep 0.1; done
"$PROXY_BIN" --control "$work/balanced.sock" deploy bench --target "127.0.0.1:$BACKEND_PORT" \
  --target "127.0.0.1:$BACKEND_PORT2" --target "127.0.0.1:$BACKEND_PORT3" \
  --health-path / --health-interval 100ms >/dev/null
wait_port "$BALANCED_PORT" dhow-balanced
wait_port "$DHOW_PORT" dhow-proxy
wait_port "$LIMITED_PORT" dhow-limited
wait_port "$HELD_PORT" dhow-held
wait_port "$NGINX_PORT" nginx
wait_port "$HAPROXY_PORT" haproxy
wait_port "$CADDY_PORT" caddy

# Peak resident memory (kB) of a process and its children.
peak_kb() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# wrk's latency to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%s", v }'
}

# One wrk run; its requests/s, p50 and p99 (ms) and any errors go to $work/res/NAME.ROUND.
run() { # name port round
  local out
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2/" >"$work/wrk.out" 2>&1
  out="$(cat "$work/wrk.out")"
  printf '%s %s %s\n' "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
    "$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")" \
    "$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")" >"$work/res/$1.$3"
  (grep -E "Non-2xx|Socket errors" <<<"$out" || true) | tr '\n' ' ' >>"$work/res/$1.err"
}

# The median of the numbers on stdin.
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Column $2 (1 req/s, 2 p50, 3 p99) of target $1 in every round.
column() { for r in $(seq 1 "$ROUNDS"); do awk -v c="$2" '{print $c}' "$work/res/$1.$r"; done; }

# Round by round, column $2 of target $1 divided by nginx's in the same round.
paired() {
  for r in $(seq 1 "$ROUNDS"); do
    awk -v c="$2" 'NR == FNR {a = $c; next} {printf "%.3f\n", a / $c}' "$work/res/$1.$r" "$work/res/nginx.$r"
  done
}

names=(direct dhow-proxy dhow-held dhow-limited dhow-balanced nginx haproxy caddy)
declare -A PORT=([direct]=$BACKEND_PORT [dhow-proxy]=$DHOW_PORT [dhow-held]=$HELD_PORT [dhow-limited]=$LIMITED_PORT [dhow-balanced]=$BALANCED_PORT [nginx]=$NGINX_PORT [haproxy]=$HAPROXY_PORT [caddy]=$CADDY_PORT)
declare -A PID=([direct]="" [dhow-proxy]=$dhow_pid [dhow-held]=$held_pid [dhow-limited]=$limited_pid [dhow-balanced]=$balanced_pid [nginx]=$nginx_pid [haproxy]=$haproxy_pid [caddy]=$caddy_pid)
mkdir -p "$work/res"
echo "bench-proxy: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS interleaved round(s), $cores cores" >&2
# Warm every path once, then measure: each round loads every target once, starting one further
# along the list each time, so that a slow minute of this shared machine falls on all of them.
for port in "${PORT[@]}"; do
  wrk -t1 -c8 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1
done
for r in $(seq 1 "$ROUNDS"); do
  line="  round $r:"
  for i in $(seq 0 $((${#names[@]} - 1))); do
    n=${names[$(((i + r - 1) % ${#names[@]}))]}
    run "$n" "${PORT[$n]}" "$r"
    line="$line $n $(awk '{printf "%.0f", $1}' "$work/res/$n.$r")"
  done
  echo "$line" >&2
done

echo
echo "Medians over $ROUNDS round(s); the ratios are the medians of each round's ratio to nginx."
printf '| %-12s | %10s | %8s | %8s | %12s | %13s | %12s |\n' target "req/s" "p50 ms" "p99 ms" "peak mem MB" "req/s vs nginx" "p99 vs nginx"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' -------------- ------------ ---------- ---------- -------------- --------------- --------------
for n in "${names[@]}"; do
  mem="-"
  [ -n "${PID[$n]}" ] && mem=$(awk -v k="$(peak_kb "${PID[$n]}")" 'BEGIN {printf "%.1f", k / 1024}')
  printf '| %-12s | %10.0f | %8.3f | %8.3f | %12s | %13.2f | %12.2f |\n' "$n" \
    "$(column "$n" 1 | median)" "$(column "$n" 2 | median)" "$(column "$n" 3 | median)" "$mem" \
    "$(paired "$n" 1 | median)" "$(paired "$n" 3 | median)"
done
if [ "$ROUNDS" -gt 1 ]; then
  echo
  echo "dhow-proxy / nginx, round by round: req/s $(paired dhow-proxy 1 | tr '\n' ' ')"
  echo "                                    p99   $(paired dhow-proxy 3 | tr '\n' ' ')"
  echo "dhow-held / dhow-proxy (the port holder's sockets / its own), req/s by round: $(
    for r in $(seq 1 "$ROUNDS"); do awk 'NR == FNR {a = $1; next} {printf "%.3f ", a / $1}' "$work/res/dhow-held.$r" "$work/res/dhow-proxy.$r"; done)"
fi
# The rate limit's cost: dhow-limited right after (or before) the plain dhow-proxy, in
# LIMIT_PAIRS back-to-back pairs of short runs (order flipped each pair), so that the load of a
# shared machine falls alike on both; the median of the pairs' ratios.
pairs="${LIMIT_PAIRS:-10}"
against_plain() { # variant label
  : >"$work/$1.ratio"
  for i in $(seq 1 "$pairs"); do
    for n in $([ $((i % 2)) = 1 ] && echo "dhow-proxy $1" || echo "$1 dhow-proxy"); do
      run "$n" "${PORT[$n]}" "pair"
    done
    awk 'NR == FNR {a = $1; b = $3; next} {printf "%.3f %.3f\n", a / $1, b / $3}' \
      "$work/res/$1.pair" "$work/res/dhow-proxy.pair" >>"$work/$1.ratio"
  done
  echo "$1 / dhow-proxy ($2), $pairs back-to-back pairs: req/s median $(awk '{print $1}' "$work/$1.ratio" | median) (pairs: $(awk '{printf "%s ", $1}' "$work/$1.ratio")), p99 median $(awk '{print $2}' "$work/$1.ratio" | median)"
}
against_plain dhow-limited "a rate limit checked on every request, none refused"
against_plain dhow-balanced "three targets, one picked per request"
for n in "${names[@]}"; do
  [ -s "$work/res/$n.err" ] && echo "note: $n: $(cat "$work/res/$n.err")"
done
echo
echo "(ratios > 1 in req/s and < 1 in p99 are better than nginx; direct = no proxy at all)"

# --- many keep-alive connections: dhow-proxy, nginx and haproxy at HIGH connections ---------
# (256 and 1,024 by default), HIGH_ROUNDS interleaved rounds with the order rotated, medians;
# req/s against haproxy's and p99 against nginx's, each ratio taken within its round.
high_rounds="${HIGH_ROUNDS:-3}"
high=(dhow-proxy nginx haproxy)
echo >&2
echo "bench-proxy: many connections (${HIGH:-256 1024}), $high_rounds interleaved round(s)" >&2
echo
echo "Many keep-alive connections (wrk -t$THREADS -d$DURATION; medians of $high_rounds rounds; ratios are medians of each round's ratio):"
printf '| %5s | %-10s | %10s | %8s | %15s | %12s |\n' conns target "req/s" "p99 ms" "req/s vs haproxy" "p99 vs nginx"
printf '|%s|%s|%s|%s|%s|%s|\n' ------- ------------ ------------ ---------- ----------------- --------------
for c in ${HIGH:-256 1024}; do
  for r in $(seq 1 "$high_rounds"); do
    for i in 0 1 2; do
      n=${high[$(((i + r - 1) % 3))]}
      CONNECTIONS=$c run "$n" "${PORT[$n]}" "c$c.$r"
    done
  done
  for n in "${high[@]}"; do
    rps=$(for r in $(seq 1 "$high_rounds"); do awk '{print $1}' "$work/res/$n.c$c.$r"; done | median)
    p99=$(for r in $(seq 1 "$high_rounds"); do awk '{print $3}' "$work/res/$n.c$c.$r"; done | median)
    vs_h=$(for r in $(seq 1 "$high_rounds"); do
      awk 'NR == FNR {a = $1; next} {printf "%.3f\n", a / $1}' "$work/res/$n.c$c.$r" "$work/res/haproxy.c$c.$r"; done | median)
    vs_n=$(for r in $(seq 1 "$high_rounds"); do
      awk 'NR == FNR {a = $3; next} {printf "%.3f\n", a / $3}' "$work/res/$n.c$c.$r" "$work/res/nginx.c$c.$r"; done | median)
    printf '| %5s | %-10s | %10.0f | %8.3f | %15.2f | %12.2f |\n' "$c" "$n" "$rps" "$p99" "$vs_h" "$vs_n"
  done
done
for n in "${high[@]}"; do
  [ -s "$work/res/$n.err" ] && echo "note: $n: $(cat "$work/res/$n.err")"
done

[ "${SHAPES:-1}" = 0 ] && exit 0
# --- other shapes of load: dhow-proxy and nginx, 3 interleaved rounds each ----------------
printf 'wrk.method = "POST"\nwrk.body = string.rep("a", 1024)\n' >"$work/post1k.lua"
printf 'wrk.method = "POST"\nwrk.body = string.rep("a", 262144)\n' >"$work/post256k.lua"
shape() { # shape port: prints req/s (and failures)
  local url="http://127.0.0.1:$2"
  case $1 in
    ab-*)
      local args=(-k -c64)
      [ "$1" = ab-new-conn ] && args=(-c32)
      ab -q "${args[@]}" -t3 -n 10000000 "$url/" 2>&1 |
        awk '/^Requests per second/ {r = $4} /^(Failed|Non-2xx)/ && $NF > 0 {f = f " " $0} END {print r, f}' ;;
    *)
      local args=(-t2 -c64 -d3s)
      case $1 in
        c512) args=(-t2 -c512 -d3s) ;;
        get-64k) url="$url/64k" ;;
        post-1k) args+=(-s "$work/post1k.lua") ;;
        post-256k) args=(-t2 -c16 -d3s -s "$work/post256k.lua") ;;
      esac
      wrk "${args[@]}" "$url" 2>&1 |
        awk '/^Requests\/sec/ {r = $2} /Non-2xx|Socket errors/ {f = f " " $0} END {print r, f}' ;;
  esac
}
echo >&2
echo "bench-proxy: other shapes of load, dhow-proxy and nginx, 3 interleaved rounds" >&2
echo
echo "Other shapes of load (medians of 3 rounds; ratio = median of each round's dhow-proxy / nginx):"
printf '| %-13s | %-44s | %10s | %10s | %6s |\n' shape load "dhow-proxy" nginx ratio
printf '|%s|%s|%s|%s|%s|\n' --------------- ---------------------------------------------- ------------ ------------ --------
declare -A LOAD=(
  [ab-keepalive]="ab -k -c64: HTTP/1.0 keep-alive"
  [ab-new-conn]="ab -c32: HTTP/1.0, a connection per request"
  [c512]="wrk -c512: 512 keep-alive connections"
  [get-64k]="wrk -c64: 64 KiB responses"
  [post-1k]="wrk -c64: POST, 1 KiB body"
  [post-256k]="wrk -c16: POST, 256 KiB body"
)
for sh in ab-keepalive ab-new-conn c512 get-64k post-1k post-256k; do
  : >"$work/shape.d" ; : >"$work/shape.n"; : >"$work/shape.r"; fails=""
  for r in 1 2 3; do
    if [ $((r % 2)) = 1 ]; then
      d=$(shape "$sh" "$DHOW_PORT"); n=$(shape "$sh" "$NGINX_PORT")
    else
      n=$(shape "$sh" "$NGINX_PORT"); d=$(shape "$sh" "$DHOW_PORT")
    fi
    read -r dr df <<<"$d"; read -r nr nf <<<"$n"
    [ -n "$df" ] && fails="$fails dhow-proxy:$df"
    [ -n "$nf" ] && fails="$fails nginx:$nf"
    echo "$dr" >>"$work/shape.d"; echo "$nr" >>"$work/shape.n"
    awk -v a="$dr" -v b="$nr" 'BEGIN {printf "%.3f\n", a / b}' >>"$work/shape.r"
  done
  printf '| %-13s | %-44s | %10.0f | %10.0f | %6.2f |\n' "$sh" "${LOAD[$sh]}" \
    "$(median <"$work/shape.d")" "$(median <"$work/shape.n")" "$(median <"$work/shape.r")"
  echo "  $sh: dhow-proxy / nginx by round: $(tr '\n' ' ' <"$work/shape.r")" >&2
  [ -n "$fails" ] && echo "note: $sh:$fails"
done
echo
echo "(nginx with its defaults buffers request bodies over 16 KiB to a temporary file)"
