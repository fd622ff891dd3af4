"""The RULER section of `longeval report`: the RULER average (mean of the task scores a run has) per run length,
the per-task scores by length, the effective length of each (model, method), and a plot of average vs length.

Effective length (RULER's README): the longest length whose average exceeds the threshold (85.6 by default,
Llama-2-7B-chat's 4k average); here the average must stay above it at every shorter measured length too, so a
curve that dips and recovers is not credited past the dip. None when even the shortest length is below it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from longeval.benchmarks.base import ReportSection, RunView

PLOT_FILE = "ruler_vs_length.png"


def _label(run: RunView) -> str:
    return " · ".join(str(v) for v in (run.model, run.method) if v) or run.name


def curves(runs: Sequence[RunView], tasks: Mapping[str, Any]) -> dict[str, dict[int, dict[str, float]]]:
    """(model · method) -> max length -> {task: score} of the RULER tasks each run scored."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for run in runs:
        scores = {task: float(score) for task, score in run.scores.items() if task in tasks}
        if scores and run.max_length is not None:
            out.setdefault(_label(run), {}).setdefault(int(run.max_length), {}).update(scores)
    return out


def average(scores: Mapping[str, float]) -> float:
    return round(sum(scores.values()) / len(scores), 2)


def effective_length(points: Mapping[int, float], threshold: float) -> int | None:
    """The longest length up to which every measured average is above `threshold`."""
    best = None
    for length in sorted(points):
        if points[length] <= threshold:
            break
        best = length
    return best


def _length(value: int | None) -> str:
    if value is None:
        return "below threshold"
    return f"{value // 1024}k" if value % 1024 == 0 else str(value)


def summary_text(by_label: Mapping[str, Mapping[int, Mapping[str, float]]], tasks: Sequence[str],
                 threshold: float) -> str:
    """Markdown: average per length with the effective length, then the task scores by length."""
    lengths = sorted({length for points in by_label.values() for length in points})
    head = ["model · method", *(_length(n) for n in lengths), f"effective length (> {threshold:g})"]
    lines = [f"RULER average by length (mean of the RULER tasks each run has; threshold {threshold:g})", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, points in by_label.items():
        averages = {n: average(points[n]) for n in points}
        cells = [f"{averages[n]:.2f} ({len(points[n])})" if n in averages else "—" for n in lengths]
        lines.append("| " + " | ".join([label, *cells, _length(effective_length(averages, threshold))]) + " |")
    lines += ["", "RULER scores by task and length", "",
              "| model · method | length | " + " | ".join(t.removeprefix("ruler_") for t in tasks) + " |",
              "|" + "---|" * (len(tasks) + 2)]
    for label, points in by_label.items():
        for n in sorted(points):
            cells = [f"{points[n][t]:.2f}" if t in points[n] else "—" for t in tasks]
            lines.append("| " + " | ".join([label, _length(n), *cells]) + " |")
    return "\n".join(lines)


def plot(by_label: Mapping[str, Mapping[int, Mapping[str, float]]], threshold: float) -> bytes:
    """PNG: RULER average against length (log2 axis), one line per (model, method), the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    lengths: set[int] = set()
    for label, points in by_label.items():
        xs = sorted(points)
        lengths.update(xs)
        effective = effective_length({n: average(points[n]) for n in xs}, threshold)
        ax.plot(xs, [average(points[n]) for n in xs], marker="o",
                label=f"{label} (effective {_length(effective)})")
    ax.axhline(threshold, linestyle="--", color="grey", label=f"threshold {threshold:g}")
    ax.set_xscale("log", base=2)
    ticks = sorted(lengths)
    ax.set_xticks(ticks, [_length(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("max length (prompt + tokens to generate)")
    ax.set_ylabel("RULER average (points)")
    ax.set_ylim(0, 100)
    ax.set_title("RULER: average vs length")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def ruler_sections(runs: Sequence[RunView], tasks: Mapping[str, Any], threshold: float) -> list[ReportSection]:
    """The report's RULER section: the summary as text and the plot; [] when no run scored a RULER task."""
    by_label = curves(runs, tasks)
    if not by_label:
        return []
    order = [t for t in tasks if any(t in s for points in by_label.values() for s in points.values())]
    return [ReportSection(title="RULER: average vs length", file_name=PLOT_FILE, png=plot(by_label, threshold),
                          text=summary_text(by_label, order, threshold))]
