#!/bin/sh
# Kills the catalog leader (SIGKILL, through `confeitaria node kill`) every PERIOD seconds
# for DURATION seconds, and starts it again RESTART seconds after each kill, so that two
# nodes of three are always up at the next kill. Each line says when and which node.
#
#   CONFEITARIA="target/release/confeitaria --config cluster.toml" loadtest/kill-leader.sh
set -u
CONFEITARIA=${CONFEITARIA:-target/release/confeitaria}
PERIOD=${PERIOD:-10}
RESTART=${RESTART:-3}
DURATION=${DURATION:-120}
end=$(($(date +%s) + DURATION))
next=$(($(date +%s) + PERIOD))
while [ "$next" -le "$end" ]; do
    sleep $((next - $(date +%s)))
    next=$((next + PERIOD))
    leader=$($CONFEITARIA --json status 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin).get("leader") or "")')
    if [ -z "$leader" ]; then
        echo "$(date -u +%T) no leader to kill"
        continue
    fi
    echo "$(date -u +%T) kill node $leader"
    $CONFEITARIA node kill "$leader" >/dev/null
    sleep "$RESTART"
    echo "$(date -u +%T) start node $leader"
    $CONFEITARIA node start "$leader" >/dev/null
done
