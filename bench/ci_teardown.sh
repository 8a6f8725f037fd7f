#!/usr/bin/env bash
# Start .ci/run's 2-node Ray cluster and stop it the old way (both at once, head first) or the new way
# (.ci/run's stop_cluster, worker first); time the stop and look for the draining error.
set -euo pipefail
mode=${1:?usage: bench/ci_teardown.sh old|new}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
export RAY_AUTH_MODE=token
ray_port=$($VENV/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ray_dirs=$(mktemp -d /tmp/qci.XXXX)
ray_pids=()
eval "$(sed -n '/^stop_cluster() {/,/^}/p' $ROOT/.ci/run)"
old_stop() { for pid in "${ray_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
setsid $VENV/bin/ray start --head --port "$ray_port" --node-ip-address 127.0.0.1 --num-cpus 1 \
  --temp-dir "$ray_dirs/h" --include-dashboard=false --disable-usage-stats --block >"$ray_dirs/head.log" 2>&1 &
ray_pids+=($!)
for _ in $(seq 1 60); do (echo >"/dev/tcp/127.0.0.1/$ray_port") 2>/dev/null && break; sleep 1; done
setsid $VENV/bin/ray start --address "127.0.0.1:$ray_port" --node-ip-address 127.0.0.1 --num-cpus 1 \
  --temp-dir "$ray_dirs/n" --disable-usage-stats --block >"$ray_dirs/node.log" 2>&1 &
ray_pids+=($!)
for _ in $(seq 1 180); do grep -q "Ray runtime started" "$ray_dirs/node.log" 2>/dev/null && break; sleep 1; done
sleep 5
start=$(date +%s.%N)
if [ "$mode" = old ]; then old_stop; else stop_cluster; fi
end=$(date +%s.%N)
left=$(pgrep -f -- "$ray_dirs" | wc -l || true)
printf '{"mode": "%s", "stop_seconds": %s, "processes_left": %s}\n' "$mode" "$(echo "$end - $start" | bc)" "$left"
grep -rh "Failed to mark" "$ray_dirs" >&2 || true
rm -rf "$ray_dirs"
