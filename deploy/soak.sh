#!/usr/bin/env bash
# Chaos soak: a training job on a local Redis cluster while random silos are SIGKILLed and restarted, then its final side
# network is compared with an uninterrupted single-process run (bitwise, tensor by tensor) and silo memory (RSS) over
# time is reported. Writes $RUN_DIR/soak.json (and rss.csv, kills.log, every log); copy soak.json to
# tests/bench/results/soak.json to record a result.
#
#   deploy/soak.sh [MINUTES]        (default 6: chaos stops after MINUTES, or earlier when the job ends)
#   env: SILOS (3)  STAGES (2)  STEPS (3000)  KILL_MIN / KILL_MAX (seconds between kills: 20 / 50)  SEED (5)
#        RUN_DIR (./runs/soak, emptied first)  CONFIGURATION (Debug: what `dotnet build` made)  REDIS_PORT (free port)
#        SAMPLE (seconds between RSS samples: 5)  CHECKPOINT_EVERY (optimizer steps: 25)
# Every process it starts (redis-server, silos, the client) has its PID recorded in $RUN_DIR/pids; it stops exactly
# those, also when interrupted. Needs redis-server, python3 and a built solution.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-6}
silos=${SILOS:-3}
stages=${STAGES:-2}
steps=${STEPS:-3000}
kill_min=${KILL_MIN:-20}
kill_max=${KILL_MAX:-50}
seed=${SEED:-5}
sample=${SAMPLE:-5}
checkpoint_every=${CHECKPOINT_EVERY:-25}
configuration=${CONFIGURATION:-Debug}
run_dir=${RUN_DIR:-runs/soak}
qst_dll=src/QstOrleans.Cli/bin/$configuration/net10.0/qst.dll
silo_dll=silos/QstOrleans.Silo/bin/$configuration/net10.0/QstOrleans.Silo.dll
for f in "$qst_dll" "$silo_dll"; do [ -f "$f" ] || { echo "error: $f missing: run dotnet build -c $configuration first" >&2; exit 2; }; done
command -v redis-server >/dev/null || { echo "error: redis-server is not installed" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 is needed to compare the weights" >&2; exit 2; }

rm -rf "$run_dir"
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
: > "$run_dir/pids"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
redis_port=${REDIS_PORT:-$(free_port)}
declare -A silo_pid silo_port gateway_port
train_pid=""

stop_all() {
  # Only the PIDs this script started (each recorded in $run_dir/pids when it was started).
  while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done < "$run_dir/pids"
  sleep 2
  while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done < "$run_dir/pids"
}
trap stop_all EXIT

record() { echo "$1" >> "$run_dir/pids"; }

model=$run_dir/tiny data=$run_dir/data.jsonl
dotnet "$qst_dll" make-model --preset tiny --out "$model" --seed 3 >/dev/null
dotnet "$qst_dll" make-data --out "$data" --count 256 --seed 3 >/dev/null
train_args=(--model "$model" --data "$data" --max-steps "$steps" --epochs 1000 --micro-batch-size 4 --lr 1e-3 --seed "$seed")

# The uninterrupted reference runs beside the cluster (on a busy box that halves the wall time); compared at the end.
echo "reference: train-local, $steps steps, uninterrupted (in the background)"
ref_start=$(date +%s) ref_end=""
dotnet "$qst_dll" train-local "${train_args[@]}" --threads 2 --out "$run_dir/ref-run" > "$run_dir/ref.log" 2>&1 &
ref_pid=$!
record $ref_pid
ref_check() { [ -n "$ref_end" ] || kill -0 "$ref_pid" 2>/dev/null || ref_end=$(date +%s); }

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no > "$run_dir/redis.log" 2>&1 &
record $!
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis=127.0.0.1:$redis_port

start_silo() {
  local name=$1
  dotnet "$silo_dll" --Qst:Clustering redis --Qst:Redis "$redis" --Qst:ClusterId soak --Qst:SiloName "$name" \
    --Qst:SiloPort "${silo_port[$name]}" --Qst:GatewayPort "${gateway_port[$name]}" --Qst:Http:Port 0 \
    --Qst:Slots:0:Device cpu:0 --Qst:Checkpoints:Store local --Qst:Checkpoints:Path "$run_dir/checkpoints" \
    >> "$run_dir/$name.log" 2>&1 &
  silo_pid[$name]=$!
  record $!
  disown $!   # its SIGKILL is the point of the soak: no "Killed" job notice from bash
}
wait_up() {
  local name=$1 pid=${silo_pid[$1]}
  for _ in $(seq 1200); do
    [ "$(grep -c "silo $name up" "$run_dir/$name.log" 2>/dev/null)" -ge "${2:-1}" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "error: $name exited, see $run_dir/$name.log" >&2; return 1; }
    sleep 0.1
  done
  echo "error: $name did not come up" >&2; return 1
}
names=()
for i in $(seq 0 $((silos - 1))); do
  name=silo-$i; names+=("$name")
  silo_port[$name]=$(free_port); gateway_port[$name]=$(free_port)
  start_silo "$name"
done
for name in "${names[@]}"; do wait_up "$name"; done
echo "cluster up: ${names[*]} (redis $redis)"

dotnet "$qst_dll" train "${train_args[@]}" --stages "$stages" --job-id soak --checkpoint-every "$checkpoint_every" --plain \
  --redis "$redis" --cluster-id soak --out "$run_dir/chaos-export" > "$run_dir/train.log" 2>&1 &
train_pid=$!
record $train_pid

echo "time_s,silo,pid,rss_kib" > "$run_dir/rss.csv"
: > "$run_dir/kills.log"
declare -A starts
for name in "${names[@]}"; do starts[$name]=1; done
begin=$(date +%s) end=$(( $(date +%s) + minutes * 60 ))
next_kill=$(( begin + kill_min + RANDOM % (kill_max - kill_min + 1) ))
kills=0
while kill -0 "$train_pid" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
  now=$(date +%s)
  ref_check
  for name in "${names[@]}"; do
    pid=${silo_pid[$name]}
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    echo "$((now - begin)),$name,$pid,${rss:-0}" >> "$run_dir/rss.csv"
  done
  if [ "$now" -ge "$next_kill" ]; then
    victim=${names[$((RANDOM % ${#names[@]}))]}
    kill -KILL "${silo_pid[$victim]}" 2>/dev/null || true
    kills=$((kills + 1))
    echo "$((now - begin)) s: SIGKILL $victim (pid ${silo_pid[$victim]})" | tee -a "$run_dir/kills.log"
    sleep 3
    start_silo "$victim"
    starts[$victim]=$(( ${starts[$victim]} + 1 ))
    wait_up "$victim" "${starts[$victim]}"
    next_kill=$(( $(date +%s) + kill_min + RANDOM % (kill_max - kill_min + 1) ))
  fi
  sleep "$sample"
done
chaos_seconds=$(( $(date +%s) - begin ))
echo "chaos over after $chaos_seconds s ($kills kills); waiting for the job to finish..."
set +e
wait "$train_pid"
train_exit=$?
set -e
job_seconds=$(( $(date +%s) - begin ))
echo "job ended (exit $train_exit) after $job_seconds s; waiting for the reference run..."
ref_check
wait "$ref_pid" || true
ref_check
ref_seconds=$(( ref_end - ref_start ))
dotnet "$qst_dll" export --run "$run_dir/ref-run" --out "$run_dir/ref-export" >/dev/null || true

python3 - "$run_dir" "$minutes" "$chaos_seconds" "$job_seconds" "$kills" "$train_exit" "$steps" "$silos" "$stages" "$ref_seconds" <<'PY'
import json, struct, sys, csv, collections
run, minutes, chaos_s, job_s, kills, train_exit, steps, silos, stages, ref_s = sys.argv[1:]
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n)); base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__": continue
            f.seek(base + info["data_offsets"][0])
            out[name] = (info["dtype"], info["shape"], f.read(info["data_offsets"][1] - info["data_offsets"][0]))
        return out
try:
    ref = tensors(f"{run}/ref-export/side_model.safetensors")
    chaos = tensors(f"{run}/chaos-export/side_model.safetensors")
    differing = sorted(k for k in set(ref) | set(chaos) if ref.get(k) != chaos.get(k))
    compared = len(ref)
except FileNotFoundError as e:
    differing, compared = [f"missing: {e.filename}"], 0
rss = collections.defaultdict(list)
for row in csv.DictReader(open(f"{run}/rss.csv")):
    if int(row["rss_kib"]) > 0: rss[row["silo"]].append((int(row["time_s"]), int(row["rss_kib"]) // 1024))
recoveries = sum(1 for line in open(f"{run}/train.log") if "recover" in line.lower())
result = {
    "what": "deploy/soak.sh: SIGKILL random silos while a job trains, then compare with an uninterrupted train-local run",
    "minutes_requested": int(minutes), "chaos_seconds": int(chaos_s), "job_seconds": int(job_s), "reference_seconds": int(ref_s),
    "silos": int(silos), "stages": int(stages), "steps": int(steps), "kills": int(kills), "train_exit_code": int(train_exit),
    "recovery_lines_in_client_log": recoveries,
    "weights_compared": compared, "weights_differing": differing, "bitwise_equal": compared > 0 and not differing,
    "silo_rss_mib": {s: {"min": min(v for _, v in xs), "max": max(v for _, v in xs), "last": xs[-1][1], "samples": len(xs),
                         "series": xs[:: max(1, len(xs) // 40)]} for s, xs in sorted(rss.items())},
}
json.dump(result, open(f"{run}/soak.json", "w"), indent=1)
print(json.dumps({k: v for k, v in result.items() if k != "silo_rss_mib"}))
for s, r in result["silo_rss_mib"].items(): print(f"{s}: RSS {r['min']}..{r['max']} MiB (last {r['last']}, {r['samples']} samples)")
PY
