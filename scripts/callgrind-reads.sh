#!/usr/bin/env bash
# Instructions per read, a measure the machine's load does not move (docs/gateway.md, "Cost
# per request in instructions"): a one-node catalog and the gateway in front of it, each in
# turn under valgrind's callgrind; 800 warm-up reads, counters zeroed, 2000 reads
# `GET /api/produtos/{id}?consistency=local` from 8 keep-alive clients, counters dumped;
# prints the instructions per read of a direct read (the node) and of a proxied read (the
# gateway). Needs valgrind and release binaries:
#   cargo build --release --bin catalog-node --bin gateway && scripts/callgrind-reads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN_DIR:-target/release}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api=$(free_port) rpc=$(free_port) gw=$(free_port)
cat >"$work/cluster.toml" <<TOML
[cluster]
secret = "callgrind-cluster-secret"
jwt_secret = "callgrind-jwt-secret"
data_dir = "$work/data"

[[nodes]]
id = 1
api = "127.0.0.1:$api"
rpc = "127.0.0.1:$rpc"
TOML

reads() { # port count
    python3 - "$1" "$2" <<'PY'
import http.client, sys, threading
port, n, c = int(sys.argv[1]), int(sys.argv[2]), 8
bad = []
def worker(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(k):
        conn.request("GET", f"/api/produtos/{1 + i % 5}?consistency=local")
        r = conn.getresponse(); r.read()
        if r.status != 200: bad.append(r.status)
ts = [threading.Thread(target=worker, args=(n // c,)) for _ in range(c)]
[t.start() for t in ts]; [t.join() for t in ts]
sys.exit(f"{len(bad)} of {n} reads not 200: {bad[:5]}" if bad else 0)
PY
}
wait_read() { # port
    for _ in $(seq 1 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$1/api/produtos/1?consistency=local" && return 0
        sleep 0.2
    done
    echo "nothing answers on port $1" >&2
    return 1
}
# Instructions per read of the process `pid` (under callgrind, dumping to $out) on `port`.
measure() { # name pid port out
    wait_read "$3"
    reads "$3" 800
    callgrind_control -z "$2" >/dev/null 2>&1
    reads "$3" 2000
    callgrind_control -d "$2" >/dev/null 2>&1
    local total
    total=$(awk '/^summary:/ { print $2 }' "$4".1)
    echo "$1: $(( total / 2000 )) instructions per read ($total for 2000)"
}

export RUST_LOG=warn
valgrind -q --tool=callgrind --callgrind-out-file="$work/node.out" \
    "$bin/catalog-node" --config "$work/cluster.toml" --id 1 >"$work/node.log" 2>&1 &
pids+=($!)
measure "node (direct read)" "${pids[0]}" "$api" "$work/node.out"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
# The node again, without valgrind, behind the gateway under it; probes every 10 min, so that
# only the reads count.
"$bin/catalog-node" --config "$work/cluster.toml" --id 1 >>"$work/node.log" 2>&1 &
pids+=($!)
CONFEITARIA_CATALOG_NODES=127.0.0.1:$api CONFEITARIA_GATEWAY_PROBE_MS=600000 \
    valgrind -q --tool=callgrind --callgrind-out-file="$work/gateway.out" \
    "$bin/gateway" --addr "127.0.0.1:$gw" >"$work/gateway.log" 2>&1 &
pids+=($!)
measure "gateway (proxied read)" "${pids[2]}" "$gw" "$work/gateway.out"
