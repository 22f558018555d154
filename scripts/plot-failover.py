#!/usr/bin/env python3
"""Draws the failover distributions written by `confeitaria chaos kill-leader --csv FILE`
(catalog rounds, and `--etcd` / `--etcd --etcd-tuned` rounds appended to the same file):
one cumulative distribution of "kill -> first acknowledged write" per target, with its
p50, p90, p99 and worst in the legend.

    python3 -m venv target/plot-venv && target/plot-venv/bin/pip install matplotlib
    target/plot-venv/bin/python scripts/plot-failover.py docs/failover-rounds.csv docs/failover.png
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


def main(src, dst):
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


if __name__ == "__main__":
    main(*sys.argv[1:3])
