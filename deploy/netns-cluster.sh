#!/usr/bin/env bash
# A multi-host QstOrleans cluster on ONE Linux machine, made of network namespaces: Redis in its own namespace and one
# silo per "host" namespace, each with its own address on a private /24, joined by veth pairs to a bridge in the root
# namespace (which gets .1, so `qst` can connect from here). Every silo advertises its own address and uses the same
# ports as its neighbours, as on real hosts; an optional tbf qdisc rate-limits each silo's link in both directions.
# Checkpoints go to one directory every silo sees (the shared mount of a real deployment; see deploy/README.md).
#
#   deploy/netns-cluster.sh up [--hosts N] [--rate 100mbit] [options]   start; prints the `qst train` line
#   deploy/netns-cluster.sh status                                       what runs, addresses, qdiscs
#   deploy/netns-cluster.sh rate RATE|none                               change every silo link's limit of a running cluster
#   deploy/netns-cluster.sh down                                         stop exactly what `up` recorded, delete the namespaces
# options (or environment):
#   --hosts N            silo namespaces PREFIX-h1..hN (HOSTS, 2)
#   --rate RATE          tbf rate per silo link, e.g. 20mbit (RATE, none); netem is not available on these kernels
#   --prefix P           names: namespaces P-redis, P-h1.., bridge Pbr, veths Pv0, Pv1.. (PREFIX, qst; ≤ 8 characters)
#   --subnet A.B.C       the private /24 (SUBNET, 10.77.0): bridge .1, Redis .2, host i .(10+i); traffic stays between them
#   --state DIR          PIDs, logs and what was created (STATE_DIR, runs/netns); one cluster per state directory
#   --cluster-id ID      Orleans cluster id (CLUSTER_ID, qst); the service id defaults to it
#   --checkpoints DIR    the shared checkpoint directory (CHECKPOINTS, STATE_DIR/checkpoints)
#   --slots N            cpu slots per silo (SLOTS_PER_SILO, 1)
#   --configuration C    build configuration of the silo (CONFIGURATION, Release); --no-build uses the existing build
#   --silo-arg ARG       one more argument for every silo, e.g. --silo-arg --Qst:FailureDetection:ProbeTimeout=00:00:10
# Needs root (ip netns, ip link, tc), iproute2, redis-server and the .NET SDK.
set -Eeuo pipefail   # -E: the clean-up trap of `up` also fires for failures inside functions
cd "$(dirname "$0")/.."

action=${1:-}
[ $# -gt 0 ] && shift
new_rate=
if [ "$action" = rate ]; then new_rate=${1:-}; [ $# -gt 0 ] && shift; fi
hosts=${HOSTS:-2}
rate=${RATE:-}
prefix=${PREFIX:-qst}
subnet=${SUBNET:-10.77.0}
state=${STATE_DIR:-runs/netns}
cluster_id=${CLUSTER_ID:-qst}
checkpoints=${CHECKPOINTS:-}
slots=${SLOTS_PER_SILO:-1}
configuration=${CONFIGURATION:-Release}
build=1
silo_args=()
redis_port=6379 silo_port=11111 gateway_port=30000

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case $1 in
    --hosts) hosts=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --subnet) subnet=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    --cluster-id) cluster_id=$2; shift 2 ;;
    --checkpoints) checkpoints=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --configuration) configuration=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --silo-arg) silo_args+=("$2"); shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ $hosts =~ ^[1-9][0-9]?$ ]] && [ "$hosts" -le 50 ] || die "--hosts: '$hosts' is not a number of hosts in 1..50"
[[ $prefix =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "--prefix: '$prefix' must be 1-8 lower-case letters or digits, starting with a letter (interface names are limited to 15 characters)"
[[ $subnet =~ ^(10|172|192)\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "--subnet: '$subnet' is not the first three octets of a private /24 (e.g. 10.77.0)"
[ -z "$rate" ] || [[ $rate =~ ^[0-9]+(kbit|mbit|gbit)$ ]] || die "--rate: '$rate' is not a rate like 100mbit (units kbit, mbit, gbit)"
[[ $slots =~ ^[1-9]$ ]] || die "--slots: '$slots' is not a number of slots in 1..9"

mkdir -p "$state"
state=$(cd "$state" && pwd)
checkpoints=${checkpoints:-$state/checkpoints}
bridge=${prefix}br
redis_ns=$prefix-redis
redis_ip=$subnet.2

host_ns() { echo "$prefix-h$1"; }
host_ip() { echo "$subnet.$((10 + $1))"; }
record() { echo "$1" >>"$state/created"; }   # KIND NAME: what down deletes, in reverse order

# A tbf burst of 10 ms at the rate (at least 32 KiB): smaller bursts cap throughput well below the rate.
tbf() {  # tbf DEV [NETNS]
  local n=${rate%%[a-z]*} unit=${rate##*[0-9]} bits
  case $unit in kbit) bits=$((n * 1000)) ;; mbit) bits=$((n * 1000000)) ;; gbit) bits=$((n * 1000000000)) ;; esac
  local burst=$((bits / 8 / 100)); [ "$burst" -lt 32768 ] && burst=32768
  if [ -n "${2:-}" ]; then ip netns exec "$2" tc qdisc add dev "$1" root tbf rate "$rate" burst "$burst" latency 400ms
  else tc qdisc add dev "$1" root tbf rate "$rate" burst "$burst" latency 400ms; fi
}

# A namespace with lo up and eth0 = one end of a veth pair whose other end (VETH) is on the bridge.
add_ns() {  # add_ns NS VETH IP
  ip netns add "$1"; record "netns $1"
  ip link add "$2" type veth peer name "$2p"; record "link $2"
  ip link set "$2p" netns "$1"
  ip -n "$1" link set "$2p" name eth0
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" link set lo up
  ip link set "$2" master "$bridge" up
}

stop_pid() {  # stop_pid PIDFILE: SIGTERM (a silo leaves the cluster cleanly), SIGKILL after 10 s
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "stopped $(basename "$1" .pid) (pid $pid)"
  fi
  rm -f "$1"
}

down() {
  for pidfile in "$state"/silo-*.pid; do [ -e "$pidfile" ] && stop_pid "$pidfile"; done
  stop_pid "$state/redis.pid"
  [ -f "$state/created" ] || { echo "nothing recorded in $state/created"; return 0; }
  # Reverse order: namespaces (taking their veth ends along), leftover veths, the bridge.
  tac "$state/created" | while read -r kind name; do
    case $kind in
      netns) ip netns del "$name" 2>/dev/null && echo "deleted namespace $name" || true ;;
      link) ip link del "$name" 2>/dev/null && echo "deleted link $name" || true ;;
    esac
  done
  rm -f "$state/created" "$state/cluster.env"
}

status() {
  [ -f "$state/cluster.env" ] || { echo "no cluster recorded in $state"; return 1; }
  cat "$state/cluster.env"
  for pidfile in "$state"/redis.pid "$state"/silo-*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then echo "$(basename "$pidfile" .pid): pid $pid running"; else echo "$(basename "$pidfile" .pid): pid $pid GONE"; fi
  done
  while read -r kind name; do
    [ "$kind" = link ] && [ "$name" != "$bridge" ] && tc qdisc show dev "$name" 2>/dev/null | grep tbf | sed "s/^/$name: /" || true
  done <"$state/created"
}

# Replaces the tbf qdisc on both ends of every silo link of the recorded cluster (none: removes it).
set_rate() {
  [ "$(id -u)" -eq 0 ] || die "needs root (tc)"
  [ -f "$state/cluster.env" ] || die "no cluster recorded in $state (run: $0 up --state $state)"
  [ "$new_rate" = none ] || [[ $new_rate =~ ^[0-9]+(kbit|mbit|gbit)$ ]] || die "rate: '$new_rate' is not none or a rate like 100mbit (units kbit, mbit, gbit)"
  local p n
  p=$(sed -n 's/^PREFIX=//p' "$state/cluster.env"); n=$(sed -n 's/^HOSTS=//p' "$state/cluster.env")
  [ -n "$p" ] && [ -n "$n" ] || die "$state/cluster.env lacks PREFIX or HOSTS (made by an older script: down and up again)"
  rate=$([ "$new_rate" = none ] && echo "" || echo "$new_rate")
  for i in $(seq "$n"); do
    tc qdisc del dev "${p}v$i" root 2>/dev/null || true
    ip netns exec "$p-h$i" tc qdisc del dev eth0 root 2>/dev/null || true
    if [ -n "$rate" ]; then tbf "${p}v$i"; tbf eth0 "$p-h$i"; fi
  done
  sed -i "s/^RATE=.*/RATE=${rate:-none}/" "$state/cluster.env"
  echo "silo links of $p: ${rate:-unlimited}"
}

up() {
  [ "$(id -u)" -eq 0 ] || die "needs root (ip netns, ip link, tc)"
  command -v redis-server >/dev/null || die "redis-server is not installed: apt-get install -y redis-server"
  [ ! -f "$state/created" ] || die "$state already records a cluster; run: $0 down --state $state"
  local existing addresses
  existing=$(ip netns list | awk '{print $1}')
  for ns in "$redis_ns" $(for i in $(seq "$hosts"); do host_ns "$i"; done); do
    ! grep -qx "$ns" <<<"$existing" || die "namespace $ns already exists (another cluster? use --prefix)"
  done
  ! ip link show "$bridge" >/dev/null 2>&1 || die "link $bridge already exists (another cluster? use --prefix)"
  addresses=$(ip -4 addr show)
  ! grep -q "inet ${subnet//./\\.}\." <<<"$addresses" || die "--subnet $subnet.0/24 is already in use on this machine"

  local silo_dll=silos/QstOrleans.Silo/bin/$configuration/net10.0/QstOrleans.Silo.dll
  if [ "$build" = 1 ]; then
    echo "building the silo ($configuration)..."
    dotnet build silos/QstOrleans.Silo -c "$configuration" -v quiet -nologo >/dev/null
  fi
  [ -f "$silo_dll" ] || die "$silo_dll is missing (build it, or drop --no-build)"
  silo_dll=$(pwd)/$silo_dll
  mkdir -p "$checkpoints"
  trap 'echo "up failed; cleaning up" >&2; down >&2' ERR

  : >"$state/created"
  ip link add "$bridge" type bridge; record "link $bridge"
  ip addr add "$subnet.1/24" dev "$bridge"
  ip link set "$bridge" up
  add_ns "$redis_ns" "${prefix}v0" "$redis_ip"
  for i in $(seq "$hosts"); do
    add_ns "$(host_ns "$i")" "${prefix}v$i" "$(host_ip "$i")"
    if [ -n "$rate" ]; then tbf "${prefix}v$i"; tbf eth0 "$(host_ns "$i")"; fi   # both directions of the silo's link
  done

  ip netns exec "$redis_ns" redis-server --bind "$redis_ip" --port "$redis_port" --protected-mode no --save '' --appendonly no \
    --daemonize yes --pidfile "$state/redis.pid" --logfile "$state/redis.log"
  for _ in $(seq 50); do ip netns exec "$redis_ns" redis-cli -h "$redis_ip" -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "redis on $redis_ip:$redis_port in namespace $redis_ns (pid $(cat "$state/redis.pid"))"

  for i in $(seq "$hosts"); do
    local name=h$i args
    args=(--Qst:Clustering redis --Qst:Redis "$redis_ip:$redis_port" --Qst:ClusterId "$cluster_id" --Qst:SiloName "$name"
          --Qst:AdvertisedAddress "$(host_ip "$i")" --Qst:SiloPort $silo_port --Qst:GatewayPort $gateway_port
          --Qst:Checkpoints:Store local --Qst:Checkpoints:Path "$checkpoints")
    for s in $(seq 0 $((slots - 1))); do args+=(--Qst:Slots:$s:Device "cpu:$s"); done
    # `ip netns exec` execs the command: the recorded PID is the silo's own.
    nohup ip netns exec "$(host_ns "$i")" dotnet "$silo_dll" "${args[@]}" "${silo_args[@]}" >"$state/silo-$name.log" 2>&1 &
    echo $! >"$state/silo-$name.pid"
  done
  for i in $(seq "$hosts"); do
    local name=h$i
    for _ in $(seq 1200); do
      grep -q "silo $name up" "$state/silo-$name.log" 2>/dev/null && break
      kill -0 "$(cat "$state/silo-$name.pid")" 2>/dev/null || { echo "silo $name exited:" >&2; cat "$state/silo-$name.log" >&2; false; }
      sleep 0.1
    done
    grep -q "silo $name up" "$state/silo-$name.log" || { echo "silo $name did not start in 120 s:" >&2; cat "$state/silo-$name.log" >&2; false; }
    echo "silo $name up in namespace $(host_ns "$i") at $(host_ip "$i"):$silo_port (pid $(cat "$state/silo-$name.pid"), log $state/silo-$name.log)"
  done
  trap - ERR
  cat >"$state/cluster.env" <<EOF
QST_REDIS=$redis_ip:$redis_port
QST_CLUSTER_ID=$cluster_id
HOSTS=$hosts
PREFIX=$prefix
RATE=${rate:-none}
CHECKPOINTS=$checkpoints
EOF
  echo "cluster '$cluster_id' ready: qst train --redis $redis_ip:$redis_port --cluster-id $cluster_id --stages $((hosts * slots)) ..."
}

case $action in
  up) up ;;
  down) down ;;
  status) status ;;
  rate) set_rate ;;
  *) usage ;;
esac
