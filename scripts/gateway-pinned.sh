#!/usr/bin/env bash
# `bench --gateway` with the gateway on a core of its own, as in a deployment: a fresh `up`
# from the cluster file $CONFIG (it must have a [gateway]; use one with moved ports and
# data_dir to run beside another shop), the gateway's threads pinned to core 1, the nodes,
# cart, orders, `up` and the load generator to core 0. Prints the direct and the gateway rows
# (local and linearizable reads, 64 clients) and the ratio of each (docs/gateway.md, "Bench").
#   cargo build --release --bin confeitaria && CONFIG=/tmp/pin/cluster.toml scripts/gateway-pinned.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/confeitaria}
config=${CONFIG:?set CONFIG to a cluster file with a [gateway] section}
work=$(mktemp -d)
"$bin" --json --config "$config" up --fresh </dev/null >"$work/up.json" 2>"$work/up.log" &
up=$!
trap 'kill -INT $up 2>/dev/null || true; wait $up 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 900); do
    [ -s "$work/up.json" ] && break
    kill -0 "$up" 2>/dev/null || { cat "$work/up.log" >&2; exit 1; }
    sleep 0.1
done
gw=$(pgrep -P "$up" -f serve-gateway)
taskset -a -pc 1 "$gw" >/dev/null
for p in $(pgrep -P "$up" -f 'serve-(node|cart|orders)') "$up"; do taskset -a -pc 0 "$p" >/dev/null; done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
taskset -c 0 "$bin" --config "$config" bench --clients 64 --seconds 5 --kills 0 --gateway \
    --csv "$work/bench.csv" | grep -E "^(direct|gateway) " | tee "$work/rows"
awk '{ r[$1 " " $2] = $4 } END {
    printf "local reads: gateway %.2fx direct\n", r["gateway read-local-http"] / r["direct read-local-http"]
    printf "linearizable reads: gateway %.2fx direct\n", r["gateway read-lin-http"] / r["direct read-lin-http"] }' "$work/rows"
