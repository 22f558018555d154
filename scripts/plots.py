#!/usr/bin/env python3
"""Draws the project's plots from the CSV files the benchmarks write, into docs/:

- docs/failover.png from docs/failover-rounds.csv (`confeitaria chaos kill-leader --csv`, with
  `--etcd` and `--etcd --etcd-tuned` rounds appended): one cumulative distribution of
  "kill -> first acknowledged write" per target, with p50, p90, p99 and worst in the legend;
- docs/bench.png from docs/bench-results.csv (`confeitaria bench --etcd --baseline --csv`):
  throughput against clients for writes and reads, the catalog beside etcd 3.4.

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
                    (int(row["clients"]), float(row["ops_per_sec"]))
                )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    panels = [
        ("writes (stock set)", ["write"]),
        ("reads", ["read-linearizable", "read-local"]),
    ]
    for ax, (title, workloads) in zip(axes, panels):
        for (target, workload), points in sorted(rows.items()):
            if workload not in workloads:
                continue
            points.sort()
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=f"{target} {workload}")
        ax.set_xscale("log", base=2)
        clients = sorted({c for pts in rows.values() for c, _ in pts})
        ax.set_xticks(clients, [str(c) for c in clients])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("operations/s")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Catalog (3 nodes) against etcd 3.4 (3 members), same 2-core machine")
    fig.tight_layout()
    fig.savefig(dst)
    print(dst, "from", src)


if __name__ == "__main__":
    docs = sys.argv[1] if len(sys.argv) > 1 else "docs"
    failover(f"{docs}/failover-rounds.csv", f"{docs}/failover.png")
    bench(f"{docs}/bench-results.csv", f"{docs}/bench.png")
