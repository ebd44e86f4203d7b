#!/usr/bin/env bash
# The local sandbox: "VPS" containers (sshd + their own dockerd) on loopback addresses, a
# "fresh" host (sshd only, for `dhow setup`), and a registry with htpasswd auth. It is how
# dhow demos and tests itself without any real server. See `sandbox.sh help`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

NAME=${SANDBOX_NAME:-dhow-sandbox}
HOSTS=${SANDBOX_HOSTS:-2}
IP_PREFIX=${SANDBOX_IP_PREFIX:-127.0.0.}
# The fresh host sits at .20 of the hosts' /24 (an old-form prefix keeps 127.0.0.20).
case "$IP_PREFIX" in
  *.) FRESH_IP=${SANDBOX_FRESH_IP:-${IP_PREFIX}20} ;;
  *) FRESH_IP=${SANDBOX_FRESH_IP:-127.0.0.20} ;;
esac
WITH_FRESH=${SANDBOX_WITH_FRESH:-1}
WITH_REGISTRY=${SANDBOX_WITH_REGISTRY:-1}
REGISTRY_ADDR=${SANDBOX_REGISTRY_ADDR:-127.0.0.1:5000}
STATE=${SANDBOX_STATE:-$here/.state}
SSH_PORT=2222
BASE_FRESH=dhow-sandbox-base:fresh
BASE_VPS=dhow-sandbox-base:vps
# Bump when the base images' contents change, so cached images are rebuilt.
BASE_REV=3
FRESH_PKGS=openssh-server,openssh-client,sudo,iproute2,procps,ca-certificates,curl,gnupg,nftables,ufw,lsb-release,python3-minimal

say() { printf '[sandbox] %s\n' "$*" >&2; }
die() { printf '[sandbox] error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
Usage: sandbox/sandbox.sh COMMAND

Commands:
  up      build the base images (once, cached), start the hosts and the registry
  down    remove exactly what 'up' made for this sandbox (base images are kept)
  status  show the sandbox's hosts
  images  build the base images only
  purge   'down', then also remove the cached base images

Settings (environment):
  SANDBOX_NAME=$NAME          container / network name prefix
  SANDBOX_HOSTS=$HOSTS                   number of VPS hosts (with Docker), 1-243, started at once
  SANDBOX_IP_PREFIX=$IP_PREFIX       the hosts' /24, ending in a dot (see "Addresses")
  SANDBOX_WITH_FRESH=$WITH_FRESH              also start a fresh host (sshd, no Docker)
  SANDBOX_FRESH_IP=$FRESH_IP       its address (default: .20 of the prefix)
  SANDBOX_WITH_REGISTRY=$WITH_REGISTRY           also run a registry with htpasswd auth
  SANDBOX_REGISTRY_ADDR=$REGISTRY_ADDR
  SANDBOX_STATE=$STATE
Each host publishes SSH on ADDR:$SSH_PORT, HTTP on ADDR:8080 and HTTPS on ADDR:8443.
State (SSH key, known_hosts, env file, registry password) is written to SANDBOX_STATE.

Addresses: host N gets the prefix's .(10+N) for N = 1..9 and .(11+N) from N = 10 on, so
the hosts take .11 to .19, skip .20 (the fresh host) and go on at .21:
  host 1  127.0.0.11    host 9  127.0.0.19    (fresh 127.0.0.20)
  host 10 127.0.0.21    host 25 127.0.0.36
Every last octet has two digits up to host 88, so the addresses sort in host order as
numbers and as text. An old-form prefix ending in a digit (SANDBOX_IP_PREFIX=127.0.0.1)
keeps its old meaning, host N at \${prefix}N, which fits hosts 1-9 only: more hosts are
refused. Callers read the addresses from \$SANDBOX_STATE/env (SANDBOX_HOSTS).
EOF
}

# --- Docker on the machine running the sandbox ----------------------------------------------

ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "Docker is not installed: installing docker.io with apt-get"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    else
      die "Docker is not installed. Install Docker Engine (on Debian/Ubuntu as root: apt-get install docker.io), start it, and run this again."
    fi
  fi
  if [ "$(id -u)" != 0 ]; then
    die "the Docker daemon is not answering. Start it (e.g. 'sudo systemctl start docker') or add yourself to the docker group, then run this again."
  fi
  say "starting dockerd (log: /var/log/dockerd.log)"
  (dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  die "dockerd did not start within 60s; see /var/log/dockerd.log"
}

ensure_tools() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  if [ "$WITH_REGISTRY" = 1 ]; then
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  fi
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ ${#missing[@]} = 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing tools: ${missing[*]}. Install them (Debian/Ubuntu: apt-get install ${missing[*]}) and run this again."
  fi
}

# --- Base images (debootstrap, cached in the local engine) -----------------------------------

debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list(.d); set SANDBOX_MIRROR"
  printf '%s' "${SANDBOX_MIRROR:-$uri}"
}

image_current() {
  [ "$(docker image inspect -f '{{ index .Config.Labels "dhow.sandbox.rev" }}' "$1" 2>/dev/null)" = "$BASE_REV" ]
}

build_images() {
  if ! image_current "$BASE_FRESH"; then
    local dir mirror
    dir=$(mktemp -d /tmp/dhow-sandbox-rootfs.XXXXXX)
    mirror=$(debian_mirror)
    say "building $BASE_FRESH with debootstrap from $mirror (about a minute, once)"
    if ! debootstrap --variant=minbase --include="$FRESH_PKGS" bookworm "$dir" "$mirror" >"$dir.log" 2>&1; then
      tail -20 "$dir.log" >&2
      rm -rf "$dir" "$dir.log"
      die "debootstrap failed (log above)"
    fi
    install -m 0755 "$here/vps-init" "$dir/usr/local/sbin/vps-init"
    rm -f "$dir"/etc/ssh/ssh_host_*
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    mkdir -p "$dir/root/.ssh" "$dir/run/sshd"
    chmod 700 "$dir/root/.ssh"
    tar -C "$dir" -c . | docker import \
      -c 'CMD ["/usr/local/sbin/vps-init"]' \
      -c "LABEL dhow.sandbox.rev=$BASE_REV" - "$BASE_FRESH" >/dev/null
    rm -rf "$dir" "$dir.log"
  fi
  if ! image_current "$BASE_VPS"; then
    say "building $BASE_VPS ($BASE_FRESH + docker.io)"
    local ctx
    ctx=$(mktemp -d /tmp/dhow-sandbox-vps.XXXXXX)
    cat >"$ctx/Dockerfile" <<EOF
FROM $BASE_FRESH
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
LABEL dhow.sandbox.rev=$BASE_REV
CMD ["/usr/local/sbin/vps-init"]
EOF
    docker build -q -t "$BASE_VPS" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
}

# --- Hosts ----------------------------------------------------------------------------------

ensure_key() {
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  [ -f "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "dhow-sandbox" -f "$STATE/id_ed25519"
}

# One host's container (already running: kept as it is).
start_host() { # name ip image
  local name=$1 ip=$2 image=$3
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    say "$name already running on $ip"
    return
  fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  say "starting $name on $ip (ssh :$SSH_PORT, http :8080, https :8443)"
  # A new host starts with an empty engine, as on a fresh machine: a volume of this name left
  # by an earlier sandbox (its state directory gone before `down`) would bring back its
  # containers and proxies.
  docker volume rm "$name-docker" >/dev/null 2>&1 || true
  docker volume create "$name-docker" >/dev/null
  docker run -d --name "$name" --hostname "$(echo "$name" | sed 's/^dhow-sandbox-//')" \
    --label "dhow.sandbox=$NAME" \
    --network "$NAME-net" \
    --cap-add=ALL --cap-drop=SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    -v "$name-docker:/var/lib/docker" \
    -e "AUTHORIZED_KEY=$(cat "$STATE/id_ed25519.pub")" \
    -p "$ip:$SSH_PORT:22" -p "$ip:8080:80" -p "$ip:8443:443" \
    "$image" >/dev/null || die "docker run of $name failed"
}

# Hosts start at once, so a few dozen share the machine's cores while they boot: generous
# limits, polled every half second.
WAIT_S=${SANDBOX_WAIT_S:-120}

wait_ssh() { # ip keys-file: sshd answers; its host keys are written to keys-file
  local ip=$1 out=$2
  for _ in $(seq 1 $((WAIT_S * 2))); do
    if ssh-keyscan -T 2 -p "$SSH_PORT" "$ip" >"$out" 2>/dev/null && grep -q ssh-ed25519 "$out"; then return; fi
    sleep 0.5
  done
  die "sshd on $ip:$SSH_PORT did not answer within ${WAIT_S}s"
}

# One exec that polls inside the host (curl on the engine's socket): cheaper than an exec per
# try when a few dozen hosts boot at once.
wait_docker() { # name
  docker exec "$1" sh -c "for _ in \$(seq 1 $((WAIT_S * 4))); do
      curl -fs --max-time 2 --unix-socket /var/run/docker.sock http://engine/_ping >/dev/null 2>&1 && exit 0
      sleep 0.25
    done; exit 1" ||
    die "dockerd inside $1 did not start within ${WAIT_S}s (docker exec $1 cat /var/log/dockerd.log)"
}

# Host N from nothing to ready: container, sshd (its keys in $STATE/keys.N), dockerd.
up_vps() { # N ip
  start_host "$NAME-vps$1" "$2" "$BASE_VPS"
  wait_ssh "$2" "$STATE/keys.$1"
  wait_docker "$NAME-vps$1"
}

up_fresh() {
  start_host "$NAME-fresh" "$FRESH_IP" "$BASE_FRESH"
  wait_ssh "$FRESH_IP" "$STATE/keys.fresh"
}

# --- Registry -------------------------------------------------------------------------------

start_registry() {
  local pidfile="$STATE/registry.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "registry already running on $REGISTRY_ADDR"
    return
  fi
  mkdir -p "$STATE/registry"
  [ -f "$STATE/registry-password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$STATE/registry-password")
  htpasswd -Bbn dhow "$(cat "$STATE/registry-password")" >"$STATE/registry/htpasswd" 2>/dev/null
  cat >"$STATE/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
auth:
  htpasswd:
    realm: dhow-sandbox
    path: $STATE/registry/htpasswd
EOF
  say "starting the registry on $REGISTRY_ADDR (user dhow)"
  nohup docker-registry serve "$STATE/registry/config.yml" >"$STATE/registry/registry.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 40); do
    curl -s -o /dev/null "http://$REGISTRY_ADDR/v2/" && return
    sleep 0.25
  done
  die "the registry did not answer on $REGISTRY_ADDR; see $STATE/registry/registry.log"
}

# --- Commands -------------------------------------------------------------------------------

# Host N's address (see "Addresses" in usage).
host_ip() { # N
  local n=$1
  case "$IP_PREFIX" in
    *.)
      printf '%s%s\n' "$IP_PREFIX" "$((n <= 9 ? 10 + n : 11 + n))"
      ;;
    *[0-9])
      [ "$n" -le 9 ] || die "SANDBOX_IP_PREFIX=$IP_PREFIX is the old form (host N at \${prefix}N), which fits hosts 1-9 only, not SANDBOX_HOSTS=$HOSTS; name the /24 with a trailing dot instead (SANDBOX_IP_PREFIX=${IP_PREFIX%.*}. gives host 1 ${IP_PREFIX%.*}.11, see 'sandbox.sh help')"
      printf '%s%s\n' "$IP_PREFIX" "$n"
      ;;
    *) die "SANDBOX_IP_PREFIX=$IP_PREFIX: expected three octets and a dot, such as 127.0.0." ;;
  esac
}

host_ips() { for i in $(seq 1 "$HOSTS"); do host_ip "$i"; done; }

# Refuse settings that cannot work before anything starts.
check_settings() {
  case "$HOSTS" in
    '' | *[!0-9]*) die "SANDBOX_HOSTS=$HOSTS: expected a number of hosts (1-243)" ;;
  esac
  [ "$HOSTS" -ge 1 ] && [ "$HOSTS" -le 243 ] || die "SANDBOX_HOSTS=$HOSTS: 1 to 243 hosts fit in one /24"
  case "$IP_PREFIX" in
    *.) [[ "$IP_PREFIX" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.$ ]] || die "SANDBOX_IP_PREFIX=$IP_PREFIX: expected a loopback /24 such as 127.0.0." ;;
    *) [[ "$IP_PREFIX" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,2}$ ]] && [ "${IP_PREFIX##*.}${HOSTS}" -le 254 ] ||
      die "SANDBOX_IP_PREFIX=$IP_PREFIX: expected a loopback /24 such as 127.0.0. (or the old form, such as 127.0.0.1, for up to 9 hosts)" ;;
  esac
  local ips
  ips=$(host_ips) || exit 1
  if [ "$WITH_FRESH" = 1 ] && grep -qxF "$FRESH_IP" <<<"$ips"; then
    die "SANDBOX_FRESH_IP=$FRESH_IP is also a VPS host's address; choose another"
  fi
}

cmd_up() {
  check_settings
  ensure_docker
  ensure_tools
  build_images
  ensure_key
  local ips name first
  ips=$(host_ips)
  first=$(head -1 <<<"$ips")
  docker network inspect "$NAME-net" >/dev/null 2>&1 || docker network create --label "dhow.sandbox=$NAME" "$NAME-net" >/dev/null
  # Recorded before they start, so 'down' removes them even when 'up' fails half-way.
  {
    for i in $(seq 1 "$HOSTS"); do echo "$NAME-vps$i"; done
    [ "$WITH_FRESH" = 1 ] && echo "$NAME-fresh"
  } >>"$STATE/containers"
  sort -u -o "$STATE/containers" "$STATE/containers"
  # Every host at once; each one waits for its own sshd and dockerd.
  local pids=() i=1 failed=0 started=$SECONDS
  for ip in $ips; do
    up_vps "$i" "$ip" &
    pids+=($!)
    i=$((i + 1))
  done
  if [ "$WITH_FRESH" = 1 ]; then
    up_fresh &
    pids+=($!)
  fi
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  [ "$failed" = 0 ] || die "$failed of ${#pids[@]} hosts did not come up (messages above); 'sandbox.sh down' removes what started"
  say "$HOSTS VPS host(s)$([ "$WITH_FRESH" = 1 ] && echo " and the fresh host") up in $((SECONDS - started)) s"
  local known="$STATE/known_hosts"
  {
    for i in $(seq 1 "$HOSTS"); do cat "$STATE/keys.$i"; done
    [ "$WITH_FRESH" = 1 ] && cat "$STATE/keys.fresh"
  } >"$known"
  rm -f "$STATE"/keys.*
  [ "$WITH_REGISTRY" = 1 ] && start_registry
  write_env
  write_demo_secrets
  say "ready: $(tr '\n' ' ' <<<"$ips")$([ "$WITH_FRESH" = 1 ] && echo "fresh $FRESH_IP")"
  say "try: ssh -i $STATE/id_ed25519 -o UserKnownHostsFile=$known -p $SSH_PORT root@$first"
}

write_env() {
  {
    echo "# Written by sandbox/sandbox.sh up; source it to reach the sandbox."
    echo "SANDBOX_NAME=$NAME"
    echo "SANDBOX_HOSTS=\"$(host_ips | tr '\n' ' ' | sed 's/ $//')\""
    echo "SANDBOX_CONTAINERS=\"$(for i in $(seq 1 "$HOSTS"); do printf '%s ' "$NAME-vps$i"; done | sed 's/ $//')\""
    echo "SANDBOX_SSH_PORT=$SSH_PORT"
    echo "SANDBOX_HTTP_PORT=8080"
    echo "SANDBOX_HTTPS_PORT=8443"
    echo "SANDBOX_KEY=$STATE/id_ed25519"
    echo "SANDBOX_KNOWN_HOSTS=$STATE/known_hosts"
    echo "SANDBOX_NETWORK=$NAME-net"
    if [ "$WITH_FRESH" = 1 ]; then
      echo "SANDBOX_FRESH=$FRESH_IP"
      echo "SANDBOX_FRESH_CONTAINER=$NAME-fresh"
    fi
    if [ "$WITH_REGISTRY" = 1 ]; then
      echo "SANDBOX_REGISTRY=$REGISTRY_ADDR"
      echo "SANDBOX_REGISTRY_USER=dhow"
      echo "SANDBOX_REGISTRY_PASSWORD=$(cat "$STATE/registry-password")"
    fi
  } >"$STATE/env"
  chmod 600 "$STATE/env"
}

# The demo app's staging secrets (config/deploy.staging.toml references them). Only the
# default sandbox writes them, and never over a file the user already has.
write_demo_secrets() {
  [ "$STATE" = "$here/.state" ] || return 0
  local f="$root/.dhow/secrets.staging"
  [ -f "$f" ] && return 0
  mkdir -p "$root/.dhow"
  (
    umask 077
    {
      echo "# Written by 'make sandbox' for the demo app's staging destination (git-ignored)."
      echo "DEMO_SECRET=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
      echo "REGISTRY_PASSWORD=$(cat "$STATE/registry-password" 2>/dev/null || true)"
    } >"$f"
  )
  say "wrote $f (demo secrets for -d staging)"
}

cmd_down() {
  if [ -f "$STATE/registry.pid" ]; then
    local pid
    pid=$(cat "$STATE/registry.pid")
    if kill -0 "$pid" 2>/dev/null && grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" && say "stopped the registry (pid $pid)"
    fi
    rm -f "$STATE/registry.pid"
  fi
  if [ -f "$STATE/containers" ]; then
    local pids=()
    while read -r c; do
      [ -n "$c" ] || continue
      (
        docker rm -f "$c" >/dev/null 2>&1 && say "removed $c"
        docker volume rm "$c-docker" >/dev/null 2>&1 || true
      ) &
      pids+=($!)
    done <"$STATE/containers"
    for pid in "${pids[@]}"; do wait "$pid" || true; done
  fi
  # Hosts this sandbox started that the state file does not list (it was lost or rewritten):
  # they carry its label.
  local c
  for c in $(docker ps -a --filter "label=dhow.sandbox=$NAME" --format '{{.Names}}'); do
    docker rm -f "$c" >/dev/null 2>&1 && say "removed $c (not in the state file)"
    docker volume rm "$c-docker" >/dev/null 2>&1 || true
  done
  docker network rm "$NAME-net" >/dev/null 2>&1 && say "removed network $NAME-net"
  rm -rf "$STATE"
  say "down"
}

cmd_status() {
  docker ps -a --filter "label=dhow.sandbox=$NAME" --format '{{.Names}}\t{{.Status}}\t{{.Ports}}'
}

case "${1:-help}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  images) ensure_docker; ensure_tools; build_images ;;
  purge) cmd_down; docker rmi "$BASE_VPS" "$BASE_FRESH" >/dev/null 2>&1 || true ;;
  help | -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
