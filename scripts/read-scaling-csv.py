#!/usr/bin/env python3
"""The output of scripts/read-scaling.sh -> docs/read-scaling.csv: one row per (learners,
consistency, clients), with each node's CPU per read from the ticks stamped on each line of
OUT_DIR/bench.log, divided by the reads bench counted (OUT_DIR/bench-N.csv, `ok` + `errors`).
Usage: scripts/read-scaling-csv.py OUT_DIR"""
import re, sys, csv
out_dir = sys.argv[1] if len(sys.argv) > 1 else "target/read-scaling"
counts = {}  # (learners, workload, clients) -> requests bench made
for n in ("0", "1", "2"):
    with open(f"{out_dir}/bench-{n}.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["target"] == "direct":
                counts[(n, r["workload"], r["clients"])] = int(r["ok"]) + int(r["errors"])
out = csv.writer(sys.stdout)
out.writerow(["learners", "consistency", "clients", "reads_per_sec", "p50_ms", "p99_ms",
              "errors", "load1", "node_cpu_us_per_read", "loadgen_cpu_us_per_read",
              "busiest_node", "busiest_node_cpu_us_per_read", "one_core_per_node_reads_per_sec"])
prev, pending = None, None
for line in open(f"{out_dir}/bench.log"):
    t = re.search(r"ticks((?: \d+=\d+)*)", line)
    ticks = {int(a): int(b) for a, b in (x.split("=") for x in t.group(1).split())} if t else {}
    m = re.search(r"\| +direct (read-local-http|read-lin-http) +(\d+) clients: +(\d+)/s +p50 (\S+) ms +p99 (\S+) ms +\((\d+) errors\)", line)
    if m:
        n = re.match(r"learners=(\d)", line).group(1)
        load = re.search(r" load (\S+)", line).group(1)
        wl, c, ops, p50, p99, err = m.groups()
        reads = counts[(n, wl, c)]
        per = {k: (ticks[k] - prev.get(k, ticks[k])) * 1e4 / reads for k in ticks}
        busiest = max(per, key=per.get)
        pending = [n, "local" if "local" in wl else "linearizable", c, ops, p50, p99, err, load]
        extra = [busiest, f"{per[busiest]:.1f}", f"{1e6 / per[busiest]:.0f}"]
    c = re.search(r"\| +(read-local-http|read-lin-http) +\d+ clients: CPU µs per request: nodes (\S+) gateway \S+ load-generator (\S+)", line)
    if c and pending:
        out.writerow(pending + [c.group(2), c.group(3)] + extra)
        pending = None
    if ticks:
        prev = ticks
