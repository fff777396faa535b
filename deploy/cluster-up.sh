#!/usr/bin/env bash
# Starts a QstOrleans cluster on this machine: redis-server (membership table) + N silo processes with
# Redis clustering, each with its own device slot(s). Records every PID under $RUN_DIR; stop it with
# deploy/cluster-down.sh. Then: qst train --redis 127.0.0.1:$REDIS_PORT --stages N ...
# One host only: Redis on loopback, so every silo advertises 127.0.0.1 (detected from the route to Redis). For several
# hosts see deploy/README.md, "Two real hosts"; deploy/netns-cluster.sh simulates them with network namespaces.
#
#   deploy/cluster-up.sh [SILOS]            (default 2)
#   env: RUN_DIR (./runs/cluster)  REDIS_PORT (6379)  CLUSTER_ID (qst)  SLOTS_PER_SILO (1)
#        DEVICE (cpu; cuda gives cuda:0, cuda:1, ... per silo)  SILO_PORT_BASE (11111)  GATEWAY_PORT_BASE (30000)
#        HTTP_PORT_BASE (8080: silo i serves /healthz, /readyz, /metrics on 8080+i; 0 turns them off)
#        CONFIGURATION (Release)  CHECKPOINTS ($RUN_DIR/checkpoints: a directory every silo shares)
#        TLS (1: mutual TLS with a CA and certificates made under $RUN_DIR/tls by deploy/make-certs.sh, a client
#             certificate "client" included; 0: plain TCP)
#        AUTH (1: silos require client tokens: $RUN_DIR/tokens with a user "admin" made by deploy/add-user.sh, its token
#              in $RUN_DIR/admin.token (mode 0600; give clients QST_TOKEN); 0: any client may submit and control jobs)
#        CLUSTER_KEY (1: $RUN_DIR/cluster.key, a random secret every silo stamps on its own grain calls, so clients cannot
#              call the pipeline's internal methods whatever they name themselves; 0: silos trust client ids)
# TLS + tokens + cluster key (the default) is the secured setup: TLS keeps tokens and the key off the wire in clear.
# Grain state and reminders go to the same Redis (the silo's defaults with Redis clustering). This Redis keeps
# nothing on disk (--save ''): the cluster survives silo crashes, not a restart of Redis itself.
set -euo pipefail
cd "$(dirname "$0")/.."

silos=${1:-2}
run_dir=${RUN_DIR:-runs/cluster}
redis_port=${REDIS_PORT:-6379}
cluster_id=${CLUSTER_ID:-qst}
slots=${SLOTS_PER_SILO:-1}
device=${DEVICE:-cpu}
silo_base=${SILO_PORT_BASE:-11111}
gateway_base=${GATEWAY_PORT_BASE:-30000}
http_base=${HTTP_PORT_BASE:-8080}
configuration=${CONFIGURATION:-Release}
tls=${TLS:-1}
auth=${AUTH:-1}
cluster_key=${CLUSTER_KEY:-1}

command -v redis-server >/dev/null || {
  echo "redis-server is not installed: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server" >&2; exit 1; }
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
checkpoints=${CHECKPOINTS:-$run_dir/checkpoints}
client_flags=""
if [ "$tls" = 1 ]; then
  names=(client)
  for i in $(seq 0 $((silos - 1))); do [ -f "$run_dir/tls/silo-$i.pem" ] || names+=("silo-$i"); done
  [ -f "$run_dir/tls/client.pem" ] && names=("${names[@]:1}")
  [ ${#names[@]} -eq 0 ] || deploy/make-certs.sh "$run_dir/tls" "${names[@]}" >/dev/null
  client_flags=" --tls-cert $run_dir/tls/client.pem --tls-key $run_dir/tls/client.key --tls-ca $run_dir/tls/ca.pem"
  echo "mutual TLS: CA and certificates in $run_dir/tls (TLS=0 for plain TCP)"
fi
client_env=""
if [ "$auth" = 1 ]; then
  [ -f "$run_dir/admin.token" ] || (umask 077; deploy/add-user.sh "$run_dir/tokens" admin admin > "$run_dir/admin.token")
  client_env="QST_TOKEN=\$(cat $run_dir/admin.token) "
  echo "client tokens: $run_dir/tokens (add users with deploy/add-user.sh $run_dir/tokens NAME; AUTH=0 for none)"
fi

if [ "$cluster_key" = 1 ]; then
  [ -f "$run_dir/cluster.key" ] || (umask 077; openssl rand -hex 32 > "$run_dir/cluster.key")
  echo "cluster key: $run_dir/cluster.key (silos only; CLUSTER_KEY=0 for none)"
fi

echo "building the silo ($configuration)..."
dotnet build silos/QstOrleans.Silo -c "$configuration" -v quiet -nologo >/dev/null
silo_dll=silos/QstOrleans.Silo/bin/$configuration/net10.0/QstOrleans.Silo.dll

redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
             --pidfile "$run_dir/redis.pid" --logfile "$run_dir/redis.log"
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "redis on 127.0.0.1:$redis_port (pid $(cat "$run_dir/redis.pid"))"

for i in $(seq 0 $((silos - 1))); do
  name="silo-$i"
  args=(--Qst:Clustering redis --Qst:Redis "127.0.0.1:$redis_port" --Qst:ClusterId "$cluster_id" --Qst:SiloName "$name"
        --Qst:SiloPort $((silo_base + i)) --Qst:GatewayPort $((gateway_base + i))
        --Qst:Http:Port $(( http_base == 0 ? 0 : http_base + i ))
        --Qst:Checkpoints:Store local --Qst:Checkpoints:Path "$checkpoints")
  if [ "$tls" = 1 ]; then
    args+=(--Qst:Tls:Certificate "$run_dir/tls/$name.pem" --Qst:Tls:Key "$run_dir/tls/$name.key" --Qst:Tls:Ca "$run_dir/tls/ca.pem")
  fi
  [ "$auth" = 1 ] && args+=(--Qst:Auth:TokensFile "$run_dir/tokens")
  [ "$cluster_key" = 1 ] && args+=(--Qst:Auth:ClusterKeyFile "$run_dir/cluster.key")
  for s in $(seq 0 $((slots - 1))); do
    # CPU silos each number their slots from 0; CUDA silos on one host take distinct GPUs.
    if [ "$device" = cuda ]; then index=$((i * slots + s)); else index=$s; fi
    args+=(--Qst:Slots:$s:Device "$device:$index")
  done
  nohup dotnet "$silo_dll" "${args[@]}" >"$run_dir/$name.log" 2>&1 &
  echo $! >"$run_dir/$name.pid"
done

for i in $(seq 0 $((silos - 1))); do
  name="silo-$i"
  for _ in $(seq 600); do
    grep -q "silo $name up" "$run_dir/$name.log" 2>/dev/null && break
    kill -0 "$(cat "$run_dir/$name.pid")" 2>/dev/null || { echo "$name exited:" >&2; cat "$run_dir/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name up (pid $(cat "$run_dir/$name.pid"), gateway $((gateway_base + i)), log $run_dir/$name.log)"
done
echo "cluster '$cluster_id' ready: ${client_env}qst train --redis 127.0.0.1:$redis_port --cluster-id $cluster_id --stages $((silos * slots))$client_flags"
