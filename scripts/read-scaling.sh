#!/usr/bin/env bash
# Read scaling with learners (issue 13): for 0, 1 and 2 learners, start a fresh shop from
# CONFIG, run `bench --gateway` (local and linearizable plain-HTTP reads spread over every
# member, voters and learners, and the nodes' CPU time per read), stop the shop. Each bench
# line is stamped with the time and the load average, since the machine may be shared.
# Usage: scripts/read-scaling.sh [CONFIG] [OUT_DIR]   (env SECS, CLIENTS, BIN)
# Every point runs SECS seconds (bench's request cap is lifted), so the points compare;
# scripts/read-scaling-csv.py OUT_DIR turns the output into docs/read-scaling.csv.
set -euo pipefail
CONFIG=${1:-cluster.toml}
OUT=${2:-target/read-scaling}
SECS=${SECS:-10}
CLIENTS=${CLIENTS:-64,256}
BIN=${BIN:-target/release/confeitaria}
mkdir -p "$OUT"
for n in 0 1 2; do
  "$BIN" --config "$CONFIG" --json up --fresh --learners "$n" >"$OUT/up-$n.log" 2>&1 &
  up=$!
  # `up` prints its ready event once every service, learners included, is ready (deadline 90 s).
  deadline=$((SECONDS + 90))
  until grep -q '"event":"ready"' "$OUT/up-$n.log"; do
    if ((SECONDS > deadline)); then echo "shop with $n learners not ready" >&2; kill -INT "$up"; exit 1; fi
    if ! kill -0 "$up" 2>/dev/null; then echo "up exited" >&2; cat "$OUT/up-$n.log" >&2; exit 1; fi
    sleep 0.5
  done
  # The node processes (id:pid) from the ready event; each bench line carries their CPU
  # ticks (utime + stime, /proc/PID/stat) so each run's CPU per node is a difference.
  pids=$(grep '"event":"ready"' "$OUT/up-$n.log" | python3 -c 'import json,sys
d = json.loads(sys.stdin.readline())
print(" ".join(str(s["node_id"]) + ":" + str(s["pid"]) for s in d["services"] if s.get("node_id")))')
  ticks() {
    local t="" p
    for p in $pids; do
      t+=" ${p%%:*}=$(sed 's/.*) //' "/proc/${p#*:}/stat" | awk '{print $12 + $13}')"
    done
    echo "ticks$t"
  }
  echo "learners=$n $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) $(ticks)" | tee -a "$OUT/bench.log"
  "$BIN" --config "$CONFIG" bench --gateway --kills 0 --clients "$CLIENTS" --seconds "$SECS" \
      --max-requests 100000000 \
      --csv "$OUT/bench-$n.csv" 2>&1 >/dev/null |
    while IFS= read -r line; do
      echo "learners=$n $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg) $(ticks) | $line"
    done | tee -a "$OUT/bench.log"
  kill -INT "$up"
  wait "$up" || true
done
