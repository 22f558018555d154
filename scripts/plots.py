#!/usr/bin/env python3
"""Draws the project's plots from the CSV files the benchmarks write, into docs/:

- docs/failover.png from docs/failover-rounds.csv (`confeitaria chaos kill-leader --csv`, with
  `--etcd` and `--etcd --etcd-tuned` rounds appended): one cumulative distribution of
  "kill -> first acknowledged write" per target, with p50, p90, p99 and worst in the legend;
- docs/bench.png from docs/bench-results.csv (`confeitaria bench --etcd --baseline --csv`):
  throughput and latency (p50, p99) against clients for writes and reads, the catalog beside
  etcd 3.4;
- docs/loadtest.png from docs/loadtest-history.csv and docs/loadtest-kills.csv (a Locust run
  through the gateway with `loadtest/kill-leader.sh`, loadtest/README.md): requests and
  failures per second and latency percentiles over time, each leader kill marked. Those two
  CSVs are made from Locust's `--csv-full-history` output and the kill script's lines by
  `scripts/plots.py --import-loadtest PREFIX_stats_history.csv KILLS.log`.
- docs/memory.png from docs/memory.csv (`confeitaria bench-memory --csv`): each node's
  resident memory, its data directory and the write p99 over time while reservations are
  made and settled, and after the retention window forgets them.
- docs/simulation.png from docs/simulation-seeds.csv and docs/simulation-failover.csv (the
  figures of docs/simulation.md, from `sim --seeds 10000` and `sim --failover --seeds 1000`):
  what the large seed runs did (operations by outcome, faults, leaderships; every seed
  passed) — the 10,000-seed catalog runs and the issue-13 profile (expiry and two learners)
  — and the simulated failover time per build.
- docs/read-scaling.png from docs/read-scaling.csv (`scripts/read-scaling.sh`, docs/bench.md
  "Read scaling with learners"): local and linearizable reads/s with 0, 1 and 2 learners at
  64 and 256 clients, and the nodes' CPU time per read.

    python3 -m venv target/plot-venv && target/plot-venv/bin/pip install matplotlib
    target/plot-venv/bin/python scripts/plots.py
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {
    "confeitaria": "Confeitaria catalog (30 / 80-160 ms)",
    "etcd-3.4": "etcd 3.4, default timing (100 / 1000 ms)",
    "etcd-3.4-tuned": "etcd 3.4, tuned (30 / 160 ms)",
}


def nearest_rank(sorted_values, q):
    """The nearest-rank percentile, as `chaos` computes it: a measured value."""
    n = len(sorted_values)
    k = max(1, -(-int(q * 100) * n // 100))
    return sorted_values[min(k, n) - 1]


def failover(src, dst):
    by_target = defaultdict(list)
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            by_target[row["target"]].append(float(row["to_write_ms"]))
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    for target, values in sorted(by_target.items()):
        values.sort()
        n = len(values)
        p = [nearest_rank(values, q) for q in (0.50, 0.90, 0.99)]
        label = (
            f"{NAMES.get(target, target)}: n={n}, p50 {p[0]:.0f}, p90 {p[1]:.0f}, "
            f"p99 {p[2]:.0f}, worst {values[-1]:.0f} ms"
        )
        ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("leader SIGKILLed -> first acknowledged write (ms, log scale)")
    ax.set_ylabel("fraction of kills")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Failover after a leader kill, 3 nodes on one 2-core machine")
    fig.tight_layout()
    fig.savefig(dst)
    for target, values in sorted(by_target.items()):
        print(target, len(values), "rounds")


def bench(src, dst):
    rows = defaultdict(list)
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            if row["clients"] != "0" and not row["workload"].startswith("failover"):
                rows[(row["target"], row["workload"])].append(
                    (int(row["clients"]), float(row["ops_per_sec"]),
                     float(row["p50_ms"]), float(row["p99_ms"]))
                )
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), dpi=110, sharex=True)
    panels = [
        ("writes (stock set)", ["write"]),
        ("reads", ["read-linearizable", "read-local"]),
    ]
    clients = sorted({p[0] for pts in rows.values() for p in pts})
    for col, (title, workloads) in enumerate(panels):
        top, bottom = axes[0][col], axes[1][col]
        for (target, workload), points in sorted(rows.items()):
            if workload not in workloads:
                continue
            points.sort()
            xs, ops, p50, p99 = zip(*points)
            line, = top.plot(xs, ops, marker="o", label=f"{target} {workload}")
            bottom.plot(xs, p99, marker="o", color=line.get_color(),
                        label=f"{target} {workload} p99")
            bottom.plot(xs, p50, marker=".", linestyle="--", color=line.get_color(),
                        label=f"{target} {workload} p50")
        top.set_ylabel("operations/s")
        top.set_title(f"{title}: throughput")
        bottom.set_yscale("log")
        bottom.set_ylabel("latency, ms (log; p99 solid, p50 dashed)")
        bottom.set_title(f"{title}: latency")
        bottom.set_xlabel("concurrent clients")
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xticks(clients, [str(c) for c in clients])
            ax.grid(True, alpha=0.3)
        top.legend(fontsize=8)
        bottom.legend(fontsize=6.5, ncol=2)
    fig.suptitle("Catalog (3 nodes) against etcd 3.4 (3 members), same 2-core machine")
    fig.tight_layout()
    fig.savefig(dst)
    print(dst, "from", src)


def import_loadtest(history, kills, docs):
    """Locust's per-second aggregate rows and the kill script's lines, as seconds since the
    run's first row, into docs/loadtest-history.csv and docs/loadtest-kills.csv."""
    rows = []
    with open(history, newline="") as f:
        for r in csv.DictReader(f):
            if r["Name"] != "Aggregated":
                continue
            num = lambda k: float(r[k]) if r[k] not in ("", "N/A") else 0.0
            rows.append(
                (int(r["Timestamp"]), int(num("User Count")), num("Requests/s"), num("Failures/s"),
                 num("50%"), num("95%"), num("99%"), int(num("Total Request Count")),
                 int(num("Total Failure Count")))
            )
    t0 = rows[0][0]
    with open(f"{docs}/loadtest-history.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "users", "requests_per_s", "failures_per_s", "p50_ms", "p95_ms",
                    "p99_ms", "total_requests", "total_failures"])
        for r in rows:
            w.writerow([r[0] - t0, *r[1:]])
    with open(kills) as f, open(f"{docs}/loadtest-kills.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["t_s", "event", "node"])
        for line in f:
            parts = line.split()  # "HH:MM:SS kill node N" / "HH:MM:SS start node N"
            if len(parts) == 4 and parts[1] in ("kill", "start"):
                h, m, s_ = (int(x) for x in parts[0].split(":"))
                t = (h * 3600 + m * 60 + s_) - t0 % 86400
                w.writerow([t, parts[1], parts[3]])
    print(f"{docs}/loadtest-history.csv: {len(rows)} s; {docs}/loadtest-kills.csv")


def loadtest(history, kills, dst):
    t, users, rps, fps, p50, p95, p99 = [], [], [], [], [], [], []
    total = failed = 0
    with open(history, newline="") as f:
        for r in csv.DictReader(f):
            t.append(int(r["t_s"]))
            users.append(int(r["users"]))
            rps.append(float(r["requests_per_s"]))
            fps.append(float(r["failures_per_s"]))
            p50.append(float(r["p50_ms"]))
            p95.append(float(r["p95_ms"]))
            p99.append(float(r["p99_ms"]))
            total, failed = int(r["total_requests"]), int(r["total_failures"])
    with open(kills, newline="") as f:
        events = [(int(r["t_s"]), r["event"], r["node"]) for r in csv.DictReader(f)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), dpi=110, sharex=True)
    top.plot(t, rps, label="requests/s")
    top.plot(t, fps, color="tab:red", label=f"failures/s (total {failed} of {total})")
    top.set_ylabel("per second")
    bottom.plot(t, p50, label="p50")
    bottom.plot(t, p95, label="p95")
    bottom.plot(t, p99, label="p99")
    bottom.set_ylabel("latency, ms (Locust's recent window)")
    bottom.set_xlabel("seconds since the start of the run")
    for ax in (top, bottom):
        first = True
        for at, event, node in events:
            if event == "kill":
                ax.axvline(at, color="black", linestyle="--", linewidth=0.8,
                           label="leader SIGKILLed" if first else None)
                if ax is top:
                    ax.annotate(f"node {node}", (at, 0), xytext=(2, 2),
                                textcoords="offset points", fontsize=7)
                first = False
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"Locust shoppers through the gateway ({max(users)} users), leader killed every 10 s"
    )
    fig.tight_layout()
    fig.savefig(dst)
    print(dst, "from", history, "and", kills)
def memory(src, dst):
    by_node = defaultdict(list)
    cluster = {}
    phases = []
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            t = float(row["t_s"])
            by_node[row["node"]].append(
                (t, float(row["rss_mib"]), float(row["data_dir_mib"]), int(row["reservations"]))
            )
            cluster[t] = (float(row["writes_per_s"]), float(row["write_p99_ms"]))
            if not phases or phases[-1][1] != row["phase"]:
                phases.append((t, row["phase"]))
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), dpi=110, sharex=True)
    rss, data, lat = axes
    for node, points in sorted(by_node.items()):
        ts = [p[0] for p in points]
        rss.plot(ts, [p[1] for p in points], label=f"node {node}")
        data.plot(ts, [p[2] for p in points], label=f"node {node} data dir")
    first = sorted(by_node)[0]
    kept = data.twinx()
    kept.plot(
        [p[0] for p in by_node[first]],
        [p[3] / 1000 for p in by_node[first]],
        color="grey",
        linestyle=":",
        label=f"reservations kept (thousands, node {first})",
    )
    kept.set_ylabel("reservations kept (thousands)")
    ts = sorted(cluster)
    lat.plot(ts, [cluster[t][1] for t in ts], color="tab:red", label="write p99 (each second)")
    rate = lat.twinx()
    rate.plot(ts, [cluster[t][0] for t in ts], color="tab:green", alpha=0.4, label="writes/s")
    rate.set_ylabel("writes/s")
    rss.axhline(64, color="black", linestyle="--", linewidth=0.8, label="64 MiB target")
    rss.set_ylabel("RSS (MiB)")
    data.set_ylabel("data dir (MiB)")
    lat.set_ylabel("write p99 (ms)")
    lat.set_xlabel("seconds since the start of bench-memory")
    for ax in axes:
        for t, name in phases:
            ax.axvline(t, color="grey", alpha=0.3)
        ax.grid(True, alpha=0.3)
    for t, name in phases:
        rss.annotate(name, (t, 1.0), xycoords=("data", "axes fraction"), fontsize=8,
                     va="top", rotation=90, alpha=0.7)
    rss.legend(loc="upper left", fontsize=8)
    h1, l1 = data.get_legend_handles_labels()
    h2, l2 = kept.get_legend_handles_labels()
    data.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    h1, l1 = lat.get_legend_handles_labels()
    h2, l2 = rate.get_legend_handles_labels()
    lat.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    rss.set_title("Catalog nodes while reservations are made, settled, and forgotten after the window")
    fig.tight_layout()
    fig.savefig(dst)
    print(dst, "from", src)


def simulation(seeds_src, failover_src, dst):
    with open(seeds_src) as f:
        runs = list(csv.DictReader(f))
    with open(failover_src) as f:
        rows = list(csv.DictReader(f))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8),
                                      gridspec_kw={"width_ratios": [1, 1.6]})

    # Left: each large seed run, its operations split by outcome (millions), faults on top.
    names = [r["run"] for r in runs]
    x = range(len(runs))
    bottom = [0.0] * len(runs)
    for key, label, color in [("acknowledged_pct", "acknowledged", "#2f9e6b"),
                              ("refused_pct", "refused", "#d89b1c"),
                              ("unknown_pct", "unknown (timeout)", "#c8373b")]:
        vals = [int(r["operations"]) * float(r[key]) / 100 / 1e6 for r in runs]
        left.bar(x, vals, bottom=bottom, color=color, label=label, width=0.55)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for i, r in enumerate(runs):
        left.annotate(f"{int(r['passed']):,} of {int(r['seeds']):,}\nseeds passed\n"
                      f"{int(r['fault_windows']):,} fault windows\n"
                      f"{int(r['leaderships']):,} leaderships",
                      (i, bottom[i]), xytext=(0, 4), textcoords="offset points",
                      ha="center", va="bottom", fontsize=8)
    left.set_xticks(list(x), [n.replace(" (", "\n(") for n in names], fontsize=8)
    left.set_ylabel("operations (millions)")
    left.set_ylim(0, max(bottom) * 1.7)
    left.set_title("Seed runs: 3 nodes and 5 s of faults each, or 3 voters + 2 learners\n"
                   "and 8 s with the retention window (issue 13)", fontsize=10)
    left.legend(loc="upper center", ncol=3, fontsize=7)

    # Right: simulated failover time per build, p50 / p90 / p99 / worst.
    stats = ["p50_ms", "p90_ms", "p99_ms", "worst_ms"]
    colors = ["#24508f", "#5b8fd9", "#d9487a", "#7a2a46"]
    width = 0.8 / len(stats)
    labels = []
    for j, row in enumerate(rows):
        short = row["build"].split(";")[0].split(" (")[0]
        labels.append(f"{short}\n{row['measure']}\n({int(row['kills']):,} kills)")
        for k, (s, c) in enumerate(zip(stats, colors)):
            right.bar(j - 0.4 + width * (k + 0.5), int(row[s]), width, color=c,
                      label=s.replace("_ms", "") if j == 0 else None)
    right.set_yscale("log")
    right.set_ylim(top=max(int(r["worst_ms"]) for r in rows) * 2)  # room for the legend
    right.set_ylabel("simulated ms after the kill (log)")
    right.set_xticks(range(len(rows)), labels, fontsize=7)
    right.axhline(600, color="#888", linestyle=":", linewidth=1,
                  label="600 ms: issue 16's worst-case bound")
    right.set_title("Simulated failover per build (1,000 seeds, leader crashed repeatedly)")
    right.legend(ncol=5, fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(dst)
    print(dst, "from", seeds_src, "and", failover_src)


def read_scaling(src, dst):
    """Reads/s with 0, 1, 2 learners (measured on the shared 2-core machine) and the nodes'
    CPU time per read, for local and linearizable reads spread over every member."""
    rows = defaultdict(list)
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["consistency"], int(row["clients"]))
            rows[key].append((int(row["learners"]), float(row["reads_per_sec"]),
                              float(row["node_cpu_us_per_read"])))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    for (consistency, clients), points in sorted(rows.items()):
        points.sort()
        xs = [p[0] for p in points]
        style = "-" if consistency == "local" else "--"
        label = f"{consistency}, {clients} clients"
        axes[0].plot(xs, [p[1] for p in points], style, marker="o", label=label)
        axes[1].plot(xs, [p[2] for p in points], style, marker="o", label=label)
    for ax, ylabel, title in [
        (axes[0], "reads/s", "throughput on 2 shared cores"),
        (axes[1], "node CPU µs per read (all nodes)", "cost per read"),
    ]:
        ax.set_xticks([0, 1, 2])
        ax.set_xlabel("learners (beside 3 voters)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Catalog reads spread over voters and learners (docs/bench.md)")
    fig.tight_layout()
    fig.savefig(dst)
    print(dst, "from", src)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--import-loadtest":
        import_loadtest(sys.argv[2], sys.argv[3], "docs")
        sys.exit(0)
    docs = sys.argv[1] if len(sys.argv) > 1 else "docs"
    failover(f"{docs}/failover-rounds.csv", f"{docs}/failover.png")
    bench(f"{docs}/bench-results.csv", f"{docs}/bench.png")
    try:
        open(f"{docs}/loadtest-history.csv").close()
    except FileNotFoundError:
        print("no loadtest-history.csv: docs/loadtest.png not drawn")
    else:
        loadtest(f"{docs}/loadtest-history.csv", f"{docs}/loadtest-kills.csv",
                 f"{docs}/loadtest.png")
    try:
        open(f"{docs}/memory.csv").close()
    except FileNotFoundError:
        print("no memory.csv: docs/memory.png not drawn")
    else:
        memory(f"{docs}/memory.csv", f"{docs}/memory.png")
    simulation(f"{docs}/simulation-seeds.csv", f"{docs}/simulation-failover.csv",
               f"{docs}/simulation.png")
    try:
        open(f"{docs}/read-scaling.csv").close()
    except FileNotFoundError:
        print("no read-scaling.csv: docs/read-scaling.png not drawn")
    else:
        read_scaling(f"{docs}/read-scaling.csv", f"{docs}/read-scaling.png")
