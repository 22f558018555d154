#!/usr/bin/env bash
# Every service's /openapi.json against the service itself: schemathesis (all checks) on a
# running shop — three catalog nodes, cart, orders, the gateway — started by `confeitaria up`
# on free ports with throwaway data. docs/api.md says what it checks and how to read a failure.
#
# Installs schemathesis from PyPI into a venv under target/; builds the debug binaries.
# CONFEITARIA_ST_EXAMPLES (default 25) and CONFEITARIA_ST_SEED (default 1) size and fix the
# run. Prints "schemathesis: ok" or fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${CONFEITARIA_ST_VENV:-target/st-venv}
case $venv in /*) ;; *) venv=$PWD/$venv ;; esac
examples=${CONFEITARIA_ST_EXAMPLES:-25}
seed=${CONFEITARIA_ST_SEED:-1}

fail() {
    echo "!!! schemathesis: FAILED: $* !!!" >&2
    exit 1
}

if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "schemathesis: installing schemathesis into $venv ..."
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5
fi
cargo build --locked -q --bin confeitaria --bin catalog-node --bin cart --bin orders --bin gateway

work=$(mktemp -d)
up_pid=
cleanup() {
    if [ -n "$up_pid" ]; then
        kill -TERM "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

{
    printf '[cluster]\nsecret = "st-cluster-secret"\njwt_secret = "st-jwt-secret"\n'
    printf 'data_dir = "%s"\n' "$work/data"
    # Slower elections than the shop's default: this run checks contracts, not failover, and a
    # loaded machine must not turn a late heartbeat into a 503 no_leader the fuzzer flags.
    printf '\n[raft]\nheartbeat_ms = 100\nelection_min_ms = 1000\nelection_max_ms = 2000\nsnapshot_every = 5000\nleader_wait_ms = 5000\n'
    for id in 1 2 3; do
        printf '\n[[nodes]]\nid = %s\napi = "127.0.0.1:0"\nrpc = "127.0.0.1:0"\n' "$id"
    done
    printf '\n[cart]\naddr = "127.0.0.1:0"\nredis_url = ""\n'
    printf '\n[orders]\naddr = "127.0.0.1:0"\n'
    printf '\n[gateway]\naddr = "127.0.0.1:0"\n'
} >"$work/cluster.toml"

cli=target/debug/confeitaria
"$cli" --json --config "$work/cluster.toml" up </dev/null >"$work/up.json" 2>"$work/up.log" &
up_pid=$!
# `up --json` prints one line once every service is ready (it gives up after 60 s itself).
for _ in $(seq 1 900); do
    [ -s "$work/up.json" ] && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.log" >&2; fail "confeitaria up exited"; }
    sleep 0.1
done
[ -s "$work/up.json" ] || { cat "$work/up.log" >&2; fail "the shop was not ready in 90 s"; }

url_of() {
    python3 -c 'import json, sys
ready = json.loads(open(sys.argv[1]).readline())
print(next(s["url"] for s in ready["services"] if s["name"] == sys.argv[2]))' "$work/up.json" "$1"
}
admin=$("$cli" --config "$work/cluster.toml" token --role admin)

status=0
run() {
    local name=$1 url=$2
    shift 2
    echo "schemathesis: $name ($url)"
    local t0
    t0=$(date +%s)
    # Admin token on every request, so the admin operations are exercised too; `--checks all`
    # includes the negative-data checks (bad input must be refused with a documented 4xx).
    # Run from the scratch directory: schemathesis keeps a `.schemathesis/` cache where it runs.
    # One worker: with two threads, CPython 3.11 (Debian's) now and then raises "AST constructor
    # recursion depth mismatch" while hypothesis describes a filter (cpython#106905: the AST
    # builder's depth counter is shared by threads): an error of the tool, not a disagreement,
    # seen on orders (4 runs of 6) and once on the catalog in CI.
    if ! (cd "$work" && "$venv/bin/schemathesis" run "$url/openapi.json" \
        --checks all --max-examples "$examples" --seed "$seed" --workers 1 \
        --request-timeout 10 --no-color --output-truncate true \
        -H "Authorization: Bearer $admin" "$@" >"$work/$name.txt" 2>&1); then
        cat "$work/$name.txt"
        echo "!!! schemathesis: $name: the document and the service disagree (above) !!!"
        status=1
    else
        grep -E "^Test cases:|generated|passed" "$work/$name.txt" | tail -2 | sed "s/^/  /"
    fi
    echo "  $name: $(( $(date +%s) - t0 )) s"
}

# Membership changes would take the cluster apart under the fuzzer; they have their own tests
# (node/tests/it/membership.rs). The cart's /interno/ endpoint takes order events from the
# orders service only (service token); schemathesis 4.32 cannot draw from its tagged-union
# schema (an internal KeyError), and orders/tests/it/delivery.rs drives it against a real cart.
# `use_after_free` expects a GET after a DELETE to answer 404; the catalog's one fuzzed DELETE,
# `DELETE /api/reservas/{id}`, is the brief's *release*, and a released reservation stays
# readable as `estado: liberada` (its tombstone makes the release idempotent and refuses a late
# reservation with the same id) until the retention window forgets it (docs/decisions.md).
run catalog "$(url_of node-1)" --exclude-path-regex '^/cluster/members' --exclude-checks use_after_free
run cart "$(url_of cart)" --exclude-path-regex '^/interno/'
run orders "$(url_of orders)"
run gateway "$(url_of gateway)"

[ "$status" = 0 ] || fail "see the failures above"
echo "schemathesis: ok"
