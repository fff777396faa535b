#!/usr/bin/env bash
# Stops what deploy/cluster-up.sh started, by the PIDs it recorded: silos first (SIGTERM, so they leave the
# cluster cleanly; SIGKILL after 10 s), then redis-server.
set -uo pipefail
cd "$(dirname "$0")/.."
run_dir=${RUN_DIR:-runs/cluster}

stop() {  # stop PIDFILE
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stopped $(basename "$1" .pid) (pid $pid)"
  fi
  rm -f "$1"
}

for pidfile in "$run_dir"/silo-*.pid; do [ -e "$pidfile" ] && stop "$pidfile"; done
stop "$run_dir/redis.pid"
