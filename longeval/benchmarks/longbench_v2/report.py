"""LongBench v2 in the report: accuracy by length bucket as a grouped bar chart, one bar per (run, task), so 0-shot
and CoT runs stand side by side. (The six numbers themselves are the report's bucket table: one row per bucket.)"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from longeval.benchmarks.longbench_v2.results import COLUMNS

LENGTHS = ("short", "medium", "long")


def v2_rows(runs: Sequence[Any], tasks: Sequence[str]) -> list[tuple[str, str, dict[str, float]]]:
    """(run name, task, {bucket: score}) for every run that has a v2 task's buckets, tasks in the given order."""
    return [(run.name, task, run.buckets[task]) for run in runs for task in tasks if task in run.buckets]


def length_bucket_plot(runs: Sequence[Any], tasks: Sequence[str]) -> bytes | None:
    """PNG: accuracy in the short, medium and long buckets, one bar per (run, task); None without v2 results."""
    rows = v2_rows(runs, tasks)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    width = 0.8 / len(rows)
    xs = np.arange(len(LENGTHS))
    for index, (name, task, buckets) in enumerate(rows):
        heights = [buckets.get(b, float("nan")) for b in LENGTHS]
        ax.bar(xs + (index - (len(rows) - 1) / 2) * width, heights, width, label=f"{name} · {task}")
    ax.axhline(25.0, color="grey", linestyle=":", linewidth=1, label="random guess (25%)")
    ax.set_xticks(xs, [COLUMNS[b] for b in LENGTHS])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("LongBench v2: accuracy by length bucket")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
