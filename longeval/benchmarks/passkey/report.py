"""Passkey's report figures: accuracy against prompt length (mean over depths), and depth x length maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

from longeval.benchmarks.base import RunView
from longeval.benchmarks.passkey.generate import cell_scores
from longeval.report.plots import figure_png, length_label, line_style, model_method, plt, same_as, short_label


def passkey_cells(runs: Sequence[RunView], stems: Sequence[str]) -> dict[str, dict[tuple[int, float], float]]:
    """(prompt tokens, depth) -> accuracy per line label (the method, or model and method when models differ),
    from the passkey prediction files (`stems`) of every run that has them."""
    one_model = len({run.model for run in runs}) == 1
    panels: dict[str, dict[tuple[int, float], float]] = {}
    for run in runs:
        for stem in stems:
            pred = Path(run.pred_dir) / f"{stem}.jsonl" if run.pred_dir else None
            if pred is not None and pred.is_file():
                label = (run.method or run.name) if one_model else model_method(run)
                panels.setdefault(label, {}).update(cell_scores(pred))
    return {label: cells for label, cells in panels.items() if cells}


def plot_passkey_vs_length(runs: Sequence[RunView], stems: Sequence[str]) -> bytes | None:
    """Passkey accuracy (mean over depths) against prompt length, one line per method. None: no length curve."""
    panels = passkey_cells(runs, stems)
    if not any(len({n for n, _ in cells}) > 1 for cells in panels.values()):
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    lengths: set[int] = set()
    drawn: list[tuple[str, list[float], list[float]]] = []
    for index, (label, cells) in enumerate(panels.items()):
        xs = sorted({n for n, _ in cells})
        lengths.update(xs)
        ys = [float(np.mean([v for (n, _), v in cells.items() if n == x])) for x in xs]
        same = same_as(drawn, [float(x) for x in xs], ys)
        drawn.append((label, [float(x) for x in xs], ys))
        ax.plot(xs, ys, label=label + (f" (= {same})" if same else ""), **line_style(index))
    window = _trained_window(runs)
    if window is not None:
        ax.axvline(window, color="grey", linestyle=":", linewidth=1.5)
        ax.text(window, 50, f"trained window: {window:,} tokens ", color="grey", fontsize=8, va="center",
                ha="right", rotation=90)
    ax.set_xscale("log", base=2)
    ticks = sorted(lengths)
    ax.set_xticks(ticks, [length_label(t) for t in ticks])
    ax.minorticks_off()
    ax.set_ylim(-5, 105)
    ax.set_xlabel("prompt length (tokens)")
    ax.set_ylabel("passkey accuracy (%, mean over depths)")
    ax.set_title("Passkey retrieval vs prompt length")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return figure_png(fig)


def _trained_window(runs: Sequence[RunView]) -> int | None:
    """The positions the model was trained on, from a `none` run's run.json (one model only), else None."""
    import json

    windows = set()
    for run in runs:
        if run.method == "none" and run.path and (Path(run.path) / "run.json").is_file():
            info = json.loads((Path(run.path) / "run.json").read_text(encoding="utf-8"))
            if isinstance(info.get("context_window"), int):
                windows.add(info["context_window"])
    return windows.pop() if len(windows) == 1 and len({run.model for run in runs}) == 1 else None


def plot_passkey_depths(runs: Sequence[RunView], stems: Sequence[str]) -> bytes | None:
    """Depth x length accuracy maps, one panel per method. None: no passkey predictions."""
    panels = passkey_cells(runs, stems)
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(1.6 + 2.4 * len(panels), 3.4), dpi=120, squeeze=False,
                             layout="constrained")
    image = None
    for ax, (label, cells) in zip(axes[0], panels.items(), strict=True):
        depths = sorted({d for _, d in cells})
        lengths = sorted({n for n, _ in cells})
        values = np.full((len(depths), len(lengths)), np.nan)
        for (length, depth), score in cells.items():
            values[depths.index(depth), lengths.index(length)] = score
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#d0d7de")
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(len(lengths)), [length_label(n) for n in lengths], fontsize=7, rotation=45)
        ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths], fontsize=7)
        ax.set_title(short_label(label, 28), fontsize=8)
        ax.set_xlabel("prompt length", fontsize=7)
    axes[0][0].set_ylabel("key depth", fontsize=8)
    fig.suptitle("Passkey retrieval: accuracy by key depth and prompt length", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), fraction=0.05, pad=0.02, label="accuracy (%)")
    return figure_png(fig)
