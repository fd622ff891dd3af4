"""PNG charts: macro score against context length (the paper's Table 4 as lines) and a per-task difference map;
the helpers families use for their own report figures (longeval.benchmarks: `report_sections`)."""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window (CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from longeval.benchmarks.base import RunView  # noqa: E402
from longeval.errors import UserError  # noqa: E402
from longeval.io import write_bytes_atomic  # noqa: E402
from longeval.report.table import Leaderboard, column_label  # noqa: E402


def length_label(tokens: int) -> str:
    """Readable tick labels: 768, 1.5k, 3k, 8k (powers of two read in 1024s), 2.25k, 12k, 15.5k."""
    if tokens < 1000:
        return str(tokens)
    value = tokens / 1024 if tokens % 256 == 0 else tokens / 1000
    return f"{value:.3g}k"


# Lines drawn on top of each other must stay visible: each later line is thinner, with a smaller marker of
# another shape, so that identical curves show as nested markers (and the legend says which lines coincide).
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def line_style(index: int) -> dict[str, Any]:
    return {"marker": _MARKERS[index % len(_MARKERS)], "markersize": max(11 - 2 * index, 4),
            "linewidth": max(3.5 - 0.8 * index, 1.0)}


def same_as(curves: list[tuple[str, list[float], list[float]]], xs: list[float], ys: list[float]) -> str | None:
    """The label of an earlier curve with exactly these points, if any."""
    for label, other_xs, other_ys in curves:
        if other_xs == xs and np.allclose(other_ys, ys, equal_nan=True):
            return label
    return None


def plot_macro_vs_length(board: Leaderboard, path: Path, benchmark: str = "",
                         truncated: bool = True) -> bool:
    """One line per (model, method): macro against max length; published rows dashed. False when nothing to draw.

    `benchmark` names the tasks in the title; `truncated` says whether prompts longer than the length are cut in
    the middle (LongBench's records) or generated to fit it (passkey), for the axis label."""
    frame = board.frame.dropna(subset=["max_length", "macro"])
    if frame.empty:
        return False
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lengths: set[int] = set()
    lines = frame.groupby(["source", "model", "method"], dropna=False, sort=False)
    families: dict[str, str] = {}  # one colour per method family: measured solid, published dashed
    drawn: list[tuple[str, list[float], list[float]]] = []
    for index, ((source, model, method), rows) in enumerate(lines):
        rows = rows.sort_values("max_length")
        xs = [int(v) for v in rows["max_length"]]
        lengths.update(xs)
        published = source != "measured"
        family = method.split(":")[0].lower() if isinstance(method, str) and method else f"model {model}"
        color = families.setdefault(family, colors[len(families) % len(colors)])
        label = (f"paper: {method or model}" if published
                 else " · ".join(str(v) for v in (model, method) if isinstance(v, str) and v))
        ys = [float(v) for v in rows["macro"]]
        same = same_as(drawn, [float(x) for x in xs], ys)
        drawn.append((label, [float(x) for x in xs], ys))
        ax.plot(xs, ys, linestyle="--" if published else "-", color=color, alpha=0.7 if published else 1.0,
                label=label + (f" (= {same})" if same else ""), **line_style(index))
    ax.set_xscale("log", base=2)
    ticks = sorted(lengths)
    ax.set_xticks(ticks, [length_label(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens" + (", prompt truncated in the middle)" if truncated else ")"))
    counts = sorted({int(c) for c in frame["macro:count"]})
    over = (f"{counts[0]} tasks" if len(counts) == 1
            else f"the {counts[0]} to {counts[-1]} of {len(board.tasks)} tasks each run has")
    ax.set_ylabel(f"macro score (mean over {over})")
    ax.set_title(f"{benchmark}: macro score vs context length" if benchmark else "macro score vs context length")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    _save(fig, path)
    return True


def plot_delta_heatmap(board: Leaderboard, baseline: str, path: Path) -> None:
    """Per task (and macro): each run's score minus the baseline run's; blue better, red worse, grey missing."""
    frame = board.frame.set_index("run", drop=False)
    if baseline not in frame.index:
        raise UserError(f"baseline '{baseline}' is not among the runs ({', '.join(frame.index)})", field="--baseline")
    if len(frame) < 2:
        raise UserError("the heat map needs at least one run besides the baseline", field="--baseline")
    delta = delta_table(board, baseline)
    columns = list(delta.columns)
    values = delta.to_numpy(dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    limit = max(float(finite.max()) if finite.size else 1.0, 1.0)
    rows = distinct_labels(list(delta.index))
    height = 1.8 + 0.45 * len(delta)
    width = 1.6 + 0.065 * max(len(row) for row in rows) + 0.75 * len(columns)
    fig, ax = plt.subplots(figsize=(width, height), dpi=120)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="#d0d7de")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        text = "—" if math.isnan(value) else f"{value:+.1f}"
        dark = not math.isnan(value) and abs(value) > 0.6 * limit
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    # (cells are 0.75 inch wide: room for "+100.0" at 7 pt)
    ax.set_xticks(range(len(columns)), [column_label(c) if c != "macro" else "macro (shared tasks)"
                                        for c in columns],
                  rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(delta)), rows, fontsize=8)
    title = "\n".join(textwrap.wrap(f"score minus baseline '{baseline}' (points)", max(int(width * 11), 30)))
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    fig.tight_layout()
    _save(fig, path)


def delta_table(board: Leaderboard, baseline: str) -> pd.DataFrame:
    """Each other run's score minus the baseline's, per task, and the macro difference over the tasks both have.

    Each row's own macro averages the tasks that row has, so the difference of two macros would compare, say, the
    paper's 12-task mean with a 3-task run's mean; the mean of the per-task differences compares like with like
    (and is missing when the two share no task).
    """
    frame = board.frame.set_index("run", drop=False)
    others = frame[frame["run"] != baseline]
    base = frame.loc[baseline, board.tasks].astype(float)
    delta = others[board.tasks].astype(float).sub(base, axis=1)
    delta["macro"] = delta.mean(axis=1, skipna=True)  # NaN where no task is shared
    return delta


def figure_png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes, closed. No "Software" text chunk, so that the same figure drawn by another
    matplotlib release differs only where its pixels do."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _save(fig: plt.Figure, path: Path) -> None:
    """PNG written atomically: an interrupted report never leaves a half-written image behind."""
    write_bytes_atomic(path, figure_png(fig))


def model_method(run: RunView) -> str:
    """A run's line label when runs of several models share a chart."""
    return " · ".join(v for v in (run.model, run.method) if v) or run.name


def short_label(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def distinct_labels(names: list[str], limit: int = 40) -> list[str]:
    """Row labels that stay apart when long run names share a long beginning: the shared beginning (up to a
    separator) is dropped, and a label still too long keeps its start and its end (where lengths and methods
    usually differ)."""
    shared = os.path.commonprefix(names) if len(names) > 1 else ""
    cut = max(shared.rfind(sep) for sep in "_-./") + 1 if shared else 0
    labels = []
    for name in names:
        rest = name[cut:] if cut and len(name) - cut >= 3 else name
        rest = "…" + rest if rest is not name else rest
        if len(rest) > limit:
            half = (limit - 1) // 2
            rest = rest[:half] + "…" + rest[-(limit - 1 - half):]
        labels.append(rest)
    return labels
