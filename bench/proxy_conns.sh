#!/usr/bin/env bash
# make bench-proxy, second part: what costs a proxy per connection rather than per request,
# dhow-proxy beside nginx and haproxy (Debian's packages, 2 workers/threads each, as many as
# the machine has cores) in front of the same backend, side by side in one run:
#
# - resident memory per idle keep-alive connection: IDLE_CONNS (10,000) connections, each
#   sends one request and then waits; the server's VmRSS (summed over its processes) before
#   and while they wait, divided by their number. HTTP/1.1 and h2 (prior knowledge, no TLS),
#   each on a server process of its own that served nothing else. The client is
#   proxy/examples/bench_client.rs (`idle`); it checks that every connection is still
#   answered afterwards.
# - TLS handshakes/s, ECDSA P-256 certificate, a new connection per request: full handshakes
#   with h2load (`--h1 -H 'Connection: close'`, nghttp2-client, TLS_REQUESTS (10,000) of them)
#   and with bench_client
#   (`handshakes ... full`), and resumed ones (TLS 1.3 session tickets) with bench_client,
#   which h2load cannot do. TLS_ROUNDS (3) interleaved rounds of TLS_SECONDS (5) each with
#   TLS_CONNS (32) concurrent clients; medians, and ratios as medians of each round's ratio.
#
# Everything listens on 127.0.0.1; every process this script starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE_CONNS="${IDLE_CONNS:-10000}"
TLS_CONNS="${TLS_CONNS:-32}"
TLS_SECONDS="${TLS_SECONDS:-5}"
TLS_ROUNDS="${TLS_ROUNDS:-3}"
TLS_REQUESTS="${TLS_REQUESTS:-10000}"
PROXY_BIN="${PROXY_BIN:-./target/release/dhow-proxy}"
CLIENT_BIN="${CLIENT_BIN:-./target/release/examples/bench_client}"
BASE="${BENCH_CONNS_BASE_PORT:-18520}"
for cmd in h2load nginx haproxy openssl curl; do
  command -v "$cmd" >/dev/null || { echo "bench-proxy: $cmd is missing (make bench-proxy-deps installs it)" >&2; exit 1; }
done
for b in "$PROXY_BIN" "$CLIENT_BIN"; do
  [ -x "$b" ] || { echo "bench-proxy: $b missing (make bench-proxy builds it)" >&2; exit 1; }
done
# Both sides hold IDLE_CONNS sockets: the soft open-file limit up to the hard one.
ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d /tmp/dhow-bench-conns.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"; [ -n "${KEEP:-}" ] && echo "kept $work" >&2; true
}
trap cleanup EXIT
chmod 755 "$work"
cores=$(nproc)

# --- an ECDSA P-256 certificate for bench.test, from a CA the clients trust -------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=bench.test \
  -keyout "$work/key.pem" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:bench.test\nbasicConstraints=CA:FALSE\n' >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/leaf.ext" -out "$work/crt.pem" 2>/dev/null
cat "$work/crt.pem" "$work/key.pem" >"$work/haproxy.pem"
chmod 644 "$work"/*.pem

# --- the backend: nginx, one worker, a fixed body ---------------------------------------------
BACKEND=$BASE
mkdir -p "$work/backend"
cat >"$work/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/backend/nginx.pid;
error_log $work/backend/error.log;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND; location / { return 200 "hello, bench\n"; } }
}
EOF
nginx -c "$work/backend/nginx.conf" -p "$work/backend" &
pids+=($!)

declare -A PORT PID
# dhow-proxy NAME PORT [--https]: a dhow-proxy process routing every host to the backend.
start_dhow() {
  local name=$1 port=$2 listen=(--http "127.0.0.1:$2")
  [ "${3:-}" = --https ] && listen=(--http "127.0.0.1:$((port + 100))" --https "127.0.0.1:$port")
  "$PROXY_BIN" --control "$work/$name.sock" run "${listen[@]}" --state "$work/$name.json" \
    --quiet --max-connections 30000 2>"$work/$name.log" &
  PID[$name]=$!; PORT[$name]=$port; pids+=($!)
}
# nginx NAME PORT LISTEN-OPTIONS
start_nginx() {
  mkdir -p "$work/$1"
  chmod 777 "$work/$1"
  cat >"$work/$1/nginx.conf" <<EOF
worker_processes $cores;
daemon off;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $work/$1;
  proxy_temp_path $work/$1;
  fastcgi_temp_path $work/$1;
  uwsgi_temp_path $work/$1;
  scgi_temp_path $work/$1;
  ssl_certificate $work/crt.pem;
  ssl_certificate_key $work/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  upstream app { server 127.0.0.1:$BACKEND; keepalive 256; }
  server {
    listen 127.0.0.1:$2 $3;
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
  nginx -c "$work/$1/nginx.conf" -p "$work/$1" &
  PID[$1]=$!; PORT[$1]=$2; pids+=($!)
}
# haproxy NAME PORT BIND-OPTIONS
start_haproxy() {
  cat >"$work/$1.cfg" <<EOF
global
  nbthread $cores
  # maxconn doubled (a server socket each) may pass the hard open-file limit: the idle
  # connections need few server sockets, so haproxy runs within the limit instead of refusing.
  ulimit-n $(ulimit -Hn)
  no strict-limits
  maxconn $((IDLE_CONNS + 512))
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
  option http-keep-alive
  option forwardfor
frontend fe
  bind 127.0.0.1:$2 $3
  default_backend be
backend be
  http-reuse always
  server app 127.0.0.1:$BACKEND
EOF
  haproxy -f "$work/$1.cfg" -db 2>"$work/$1.log" &
  PID[$1]=$!; PORT[$1]=$2; pids+=($!)
}
start_dhow dhow-h1 $((BASE + 1))
start_dhow dhow-h2 $((BASE + 2))
start_dhow dhow-tls $((BASE + 3)) --https
start_nginx nginx-h1 $((BASE + 4)) ""
start_nginx nginx-h2 $((BASE + 5)) http2
start_nginx nginx-tls $((BASE + 6)) "ssl"
start_haproxy haproxy-h1 $((BASE + 7)) ""
start_haproxy haproxy-h2 $((BASE + 8)) "proto h2"
start_haproxy haproxy-tls $((BASE + 9)) "ssl crt $work/haproxy.pem alpn http/1.1"

# The dhow-proxy processes route every host (the catch-all, whose certificate every SNI gets).
for name in dhow-h1 dhow-h2 dhow-tls; do
  for _ in $(seq 1 100); do [ -S "$work/$name.sock" ] && break; sleep 0.1; done
  tls=()
  [ "$name" = dhow-tls ] && tls=(--tls-cert "$work/crt.pem" --tls-key "$work/key.pem")
  "$PROXY_BIN" --control "$work/$name.sock" deploy bench --target "127.0.0.1:$BACKEND" \
    --health-path / --health-interval 100ms "${tls[@]}" >/dev/null
done
answers() { # URL [curl options]: wait until it answers 200
  for _ in $(seq 1 100); do
    [ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "${@:2}" "$1")" = 200 ] && return 0
    sleep 0.1
  done
  echo "bench-proxy: nothing answers on $1" >&2; exit 1
}
for n in dhow-h1 nginx-h1 haproxy-h1; do answers "http://127.0.0.1:${PORT[$n]}/"; done
for n in dhow-h2 nginx-h2 haproxy-h2; do answers "http://127.0.0.1:${PORT[$n]}/" --http2-prior-knowledge; done
for n in dhow-tls nginx-tls haproxy-tls; do answers "https://127.0.0.1:${PORT[$n]}/"; done

# Resident memory (kB) of a process and its children, now.
rss_kb() {
  local total=0 p v
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# Idle connections to server NAME (kind h1 or h2): prints bytes of RSS per connection.
idle_per_conn() {
  local name=$1 kind=$2 before after fifo="$work/idle.in" out="$work/idle.out"
  # Warm the server's paths and allocator with a few hundred connections first.
  "$CLIENT_BIN" idle "127.0.0.1:${PORT[$name]}" 256 "$kind" </dev/null >/dev/null
  sleep 0.5
  before=$(rss_kb "${PID[$name]}")
  rm -f "$fifo"; mkfifo "$fifo"
  "$CLIENT_BIN" idle "127.0.0.1:${PORT[$name]}" "$IDLE_CONNS" "$kind" <"$fifo" >"$out" &
  local client=$!
  exec 9>"$fifo"
  for _ in $(seq 1 1200); do grep -q '^ready' "$out" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  after=$(rss_kb "${PID[$name]}")
  exec 9>&-
  wait "$client" || { echo "bench-proxy: the idle client failed on $name: $(cat "$out")" >&2; exit 1; }
  grep -q "^answered $IDLE_CONNS of $IDLE_CONNS" "$out" ||
    echo "note: $name $kind: $(grep answered "$out")" >&2
  echo $(((after - before) * 1024 / IDLE_CONNS))
}

echo "bench-proxy: $IDLE_CONNS idle connections per server; TLS: $TLS_ROUNDS round(s) of ${TLS_SECONDS}s, $TLS_CONNS clients" >&2
declare -A IDLE
for kind in h1 h2; do
  for s in dhow nginx haproxy; do
    IDLE[$s-$kind]=$(idle_per_conn "$s-$kind" "$kind")
    echo "  idle $kind $s: ${IDLE[$s-$kind]} bytes per connection" >&2
  done
done

# --- TLS handshakes/s ---------------------------------------------------------------------------
mkdir -p "$work/tls"
# CPU time (clock ticks) a process and its children have used so far.
cpu_ticks() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
# Server $1's CPU µs per handshake since ticks $2, for $3 handshakes.
cpu_us() { awk -v t="$(($(cpu_ticks "${PID[$1-tls]}") - $2))" -v n="$3" -v hz="$hz" 'BEGIN {printf "%.0f\n", t * 1e6 / hz / n}'; }
tls_run() { # server round
  local url="https://127.0.0.1:${PORT[$1-tls]}/" addr="127.0.0.1:${PORT[$1-tls]}" t0 out
  t0=$(cpu_ticks "${PID[$1-tls]}")
  # (h2load's -D never ends when every request closes its connection: a count instead.)
  out=$(h2load --h1 -H 'Connection: close' -c "$TLS_CONNS" -n "$TLS_REQUESTS" "$url" 2>&1)
  awk '/^finished in/ {gsub(",", ""); print $4}' <<<"$out" >"$work/tls/$1.h2load.$2"
  cpu_us "$1" "$t0" "$(awk '/^requests:/ {print $8}' <<<"$out")" >"$work/tls/$1.cpu-full.$2"
  grep -q " 0 failed" <<<"$out" || echo "note: $1 h2load: $(grep '^requests:' <<<"$out")" >&2
  for kind in full resumed; do
    t0=$(cpu_ticks "${PID[$1-tls]}")
    "$CLIENT_BIN" handshakes "$addr" bench.test "$work/ca.pem" "$TLS_CONNS" "${TLS_SECONDS%s}" "$kind" \
      >"$work/tls/$1.$kind.out.$2"
    awk '{print $2}' "$work/tls/$1.$kind.out.$2" >"$work/tls/$1.$kind.$2"
    [ "$kind" = resumed ] &&
      cpu_us "$1" "$t0" "$(awk '{print $4}' "$work/tls/$1.$kind.out.$2")" >"$work/tls/$1.cpu-resumed.$2"
    awk -v k="$kind" '$8 > 0 || (k == "resumed" && $6 < $4 - '"$TLS_CONNS"') {print "note: '"$1"' " k " run: " $0}' \
      "$work/tls/$1.$kind.out.$2" >&2
  done
}
servers=(dhow nginx haproxy)
for r in $(seq 1 "$TLS_ROUNDS"); do
  line="  TLS round $r:"
  for i in 0 1 2; do
    s=${servers[$(((i + r - 1) % 3))]}
    tls_run "$s" "$r"
    line="$line $s $(cat "$work/tls/$s.h2load.$r")/$(cat "$work/tls/$s.full.$r")/$(cat "$work/tls/$s.resumed.$r")"
  done
  echo "$line (h2load full / bench_client full / resumed)" >&2
done
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { for r in $(seq 1 "$TLS_ROUNDS"); do cat "$work/tls/$1.$2.$r"; done | median; }
vs() { # server what other: median of per-round ratios
  for r in $(seq 1 "$TLS_ROUNDS"); do
    awk -v a="$(cat "$work/tls/$1.$2.$r")" -v b="$(cat "$work/tls/$3.$2.$r")" 'BEGIN {printf "%.3f\n", a / b}'
  done | median
}

echo
echo "Per connection (same run; idle: $IDLE_CONNS connections, each answered once, then waiting;"
echo "TLS: medians of $TLS_ROUNDS rounds, ratios = medians of each round's ratio):"
printf '| %-38s | %10s | %8s | %8s | %8s | %10s |\n' measure dhow-proxy nginx haproxy "vs nginx" "vs haproxy"
printf '|%s|%s|%s|%s|%s|%s|\n' ---------------------------------------- ------------ ---------- ---------- ---------- ------------
for kind in h1 h2; do
  d=${IDLE[dhow-$kind]} n=${IDLE[nginx-$kind]} h=${IDLE[haproxy-$kind]}
  label="RSS bytes per idle conn, HTTP/1.1"
  [ "$kind" = h2 ] && label="RSS bytes per idle conn, h2 (no TLS)"
  printf '| %-38s | %10s | %8s | %8s | %8s | %10s |\n' "$label" "$d" "$n" "$h" \
    "$(awk -v a="$d" -v b="$n" 'BEGIN {if (b > 0) printf "%.1f", a / b; else print "-"}')" \
    "$(awk -v a="$d" -v b="$h" 'BEGIN {if (b > 0) printf "%.1f", a / b; else print "-"}')"
done
declare -A LABEL=([h2load]="full TLS handshakes/s (h2load)" [full]="full TLS handshakes/s (bench_client)"
  [resumed]="resumed TLS handshakes/s (bench_client)" [cpu-full]="server CPU us per full handshake"
  [cpu-resumed]="server CPU us per resumed handshake")
for what in h2load full resumed cpu-full cpu-resumed; do
  printf '| %-38s | %10.0f | %8.0f | %8.0f | %8.2f | %10.2f |\n' "${LABEL[$what]}" \
    "$(col dhow "$what")" "$(col nginx "$what")" "$(col haproxy "$what")" \
    "$(vs dhow "$what" nginx)" "$(vs dhow "$what" haproxy)"
done
echo
echo "(memory and CPU: lower is better; handshakes/s: higher is better; the clients share the 2 cores;"
echo " CPU per handshake (us = µs): the server's user + system time over the run, h2load's for full ones)"
