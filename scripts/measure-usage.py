#!/usr/bin/env python3
"""Resident memory and CPU of a running shop's processes under load: the figures behind the
requests and limits of deploy/k8s (docs/operations.md, "Requests and limits").

    measure-usage.py DATA_DIR GATEWAY_URL SECONDS [BENCH_CMD...]

Samples /proc every 100 ms for the processes whose command line mentions DATA_DIR (the
`data_dir` of the cluster file `confeitaria up` runs: its nodes, cart, orders, gateway and
Redis), while it runs BENCH_CMD (e.g. `confeitaria bench ...`) and, beside it, checkouts
through the gateway (add to a cart, then POST /api/pedidos) from four threads for SECONDS.
Prints, per role: peak RSS, CPU cores averaged over the run, and the busiest second.
Stdlib only; reads only this machine's /proc and talks only to GATEWAY_URL (loopback).
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
ROLES = {"serve-node": "catalog-node", "serve-cart": "cart", "serve-orders": "orders",
         "serve-gateway": "gateway", "redis-server": "redis"}


def processes(marker):
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker not in cmd:
            continue
        for key, role in ROLES.items():
            if key in cmd:
                out[int(pid)] = role
    # `up` starts Redis under a small shell whose child, redis-server, rewrites its own
    # command line: take the children of what matched, too.
    for pid in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if int(stat[1]) in out and "redis-server" in cmd:
            out[int(pid)] = "redis"
    # The shell around Redis is not Redis.
    return {pid: role for pid, role in out.items()
            if role != "redis" or open(f"/proc/{pid}/comm").read().strip() == "redis-server"}


def sample(pid):
    """(cpu seconds, rss bytes) of pid, or None when it is gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        rss = 0
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        return (int(stat[11]) + int(stat[12])) / TICK, rss
    except (OSError, IndexError, ValueError):
        return None


def checkouts(gateway, stop, counts):
    n = 0
    while not stop.is_set():
        try:
            body = json.dumps({"doce_id": 1 + n % 5, "quantidade": 1}).encode()
            req = urllib.request.Request(f"{gateway}/api/carrinho/adicionar", data=body,
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                session = r.headers["x-session-id"]
            body = json.dumps({"session_id": session}).encode()
            req = urllib.request.Request(f"{gateway}/api/pedidos", data=body, headers={
                "content-type": "application/json",
                "idempotency-key": f"measure-{threading.get_ident()}-{n}"})
            with urllib.request.urlopen(req, timeout=20) as r:
                r.read()
            counts["ok"] += 1
        except Exception:  # a refusal or a timeout under load: counted, not fatal
            counts["failed"] += 1
        n += 1


def main():
    data_dir, gateway, seconds, *bench = sys.argv[1:]
    procs = processes(data_dir)
    if not procs:
        sys.exit(f"no process mentions {data_dir}: is `confeitaria up` running on it?")
    first = {pid: sample(pid) for pid in procs}
    peak_rss = {pid: s[1] for pid, s in first.items() if s}
    last = dict(first)
    busiest = {pid: 0.0 for pid in procs}
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    threads = [threading.Thread(target=checkouts, args=(gateway, stop, counts)) for _ in range(4)]
    for t in threads:
        t.start()
    child = subprocess.Popen(bench, stdout=subprocess.DEVNULL) if bench else None
    start = time.monotonic()
    window = (start, dict(first))
    while time.monotonic() - start < float(seconds) or (child and child.poll() is None):
        time.sleep(0.1)
        now = time.monotonic()
        for pid in procs:
            s = sample(pid)
            if s:
                last[pid] = s
                peak_rss[pid] = max(peak_rss.get(pid, 0), s[1])
        if now - window[0] >= 1.0:
            for pid in procs:
                if last.get(pid) and window[1].get(pid):
                    busiest[pid] = max(busiest[pid], (last[pid][0] - window[1][pid][0]) / (now - window[0]))
            window = (now, dict(last))
        if time.monotonic() - start > 600:
            break
    stop.set()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    print(f"{took:.0f} s of load; checkouts through the gateway: {counts['ok']} ok, {counts['failed']} failed")
    print(f"{'role':<14}{'pid':>8}{'RSS at start MiB':>18}{'peak RSS MiB':>14}{'avg cores':>11}{'busiest 1 s':>13}")
    for pid, role in sorted(procs.items(), key=lambda x: (x[1], x[0])):
        if not first.get(pid) or not last.get(pid):
            continue
        cores = (last[pid][0] - first[pid][0]) / took
        print(f"{role:<14}{pid:>8}{first[pid][1] / 2**20:>18.1f}{peak_rss[pid] / 2**20:>14.1f}{cores:>11.2f}{busiest[pid]:>13.2f}")


if __name__ == "__main__":
    main()
