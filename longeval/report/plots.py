"""PNG charts: macro score against context length (the paper's Table 4 as lines) and a per-task difference map."""

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

from longeval.errors import UserError  # noqa: E402
from longeval.io import write_bytes_atomic  # noqa: E402
from longeval.report.collect import RunResult  # noqa: E402
from longeval.report.table import Leaderboard, column_label  # noqa: E402


def _length_label(tokens: int) -> str:
    """Readable tick labels: 768, 1.5k, 3k, 8k (powers of two read in 1024s), 2.25k, 12k, 15.5k."""
    if tokens < 1000:
        return str(tokens)
    value = tokens / 1024 if tokens % 256 == 0 else tokens / 1000
    return f"{value:.3g}k"


# Lines drawn on top of each other must stay visible: each later line is thinner, with a smaller marker of
# another shape, so that identical curves show as nested markers (and the legend says which lines coincide).
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _line_style(index: int) -> dict[str, Any]:
    return {"marker": _MARKERS[index % len(_MARKERS)], "markersize": max(11 - 2 * index, 4),
            "linewidth": max(3.5 - 0.8 * index, 1.0)}


def _same_as(curves: list[tuple[str, list[float], list[float]]], xs: list[float], ys: list[float]) -> str | None:
    """The label of an earlier curve with exactly these points, if any."""
    for label, other_xs, other_ys in curves:
        if other_xs == xs and np.allclose(other_ys, ys, equal_nan=True):
            return label
    return None


def plot_macro_vs_length(board: Leaderboard, path: Path, benchmark: str = "LongBench",
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
        same = _same_as(drawn, [float(x) for x in xs], ys)
        drawn.append((label, [float(x) for x in xs], ys))
        ax.plot(xs, ys, linestyle="--" if published else "-", color=color, alpha=0.7 if published else 1.0,
                label=label + (f" (= {same})" if same else ""), **_line_style(index))
    ax.set_xscale("log", base=2)
    ticks = sorted(lengths)
    ax.set_xticks(ticks, [_length_label(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens" + (", prompt truncated in the middle)" if truncated else ")"))
    counts = sorted({int(c) for c in frame["macro:count"]})
    over = (f"{counts[0]} tasks" if len(counts) == 1
            else f"the {counts[0]} to {counts[-1]} of {len(board.tasks)} tasks each run has")
    ax.set_ylabel(f"macro score (mean over {over})")
    ax.set_title(f"{benchmark}: macro score vs context length")
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


def _save(fig: plt.Figure, path: Path) -> None:
    """PNG written atomically: an interrupted report never leaves a half-written image behind. No "Software"
    text chunk, so that the same figure drawn by another matplotlib release differs only where its pixels do."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def _short(name: str, limit: int = 40) -> str:
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



def _model_method(run: RunResult) -> str:
    return " · ".join(v for v in (run.model, run.method) if v) or run.name


PASSKEY_TASKS = ("passkey", "passkey_sweep")


def passkey_cells(runs: list[RunResult]) -> dict[str, dict[tuple[int, float], float]]:
    """(prompt tokens, depth) -> accuracy per line label (the method, or model and method when models differ),
    from the passkey prediction files of every run that has them."""
    from longeval.passkey import cell_scores

    one_model = len({run.model for run in runs}) == 1
    panels: dict[str, dict[tuple[int, float], float]] = {}
    for run in runs:
        for task in PASSKEY_TASKS:
            pred = Path(run.path) / "pred" / f"{task}.jsonl" if run.path else None
            if pred is not None and pred.is_file():
                label = (run.method or run.name) if one_model else _model_method(run)
                panels.setdefault(label, {}).update(cell_scores(pred))
    return {label: cells for label, cells in panels.items() if cells}


def plot_passkey_vs_length(runs: list[RunResult], path: Path) -> bool:
    """Passkey accuracy (mean over depths) against prompt length, one line per method. False: no length curve."""
    panels = passkey_cells(runs)
    if not any(len({n for n, _ in cells}) > 1 for cells in panels.values()):
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    lengths: set[int] = set()
    drawn: list[tuple[str, list[float], list[float]]] = []
    for index, (label, cells) in enumerate(panels.items()):
        xs = sorted({n for n, _ in cells})
        lengths.update(xs)
        ys = [float(np.mean([v for (n, _), v in cells.items() if n == x])) for x in xs]
        same = _same_as(drawn, [float(x) for x in xs], ys)
        drawn.append((label, [float(x) for x in xs], ys))
        ax.plot(xs, ys, label=label + (f" (= {same})" if same else ""), **_line_style(index))
    window = _trained_window(runs)
    if window is not None:
        ax.axvline(window, color="grey", linestyle=":", linewidth=1.5)
        ax.text(window, 50, f"trained window: {window:,} tokens ", color="grey", fontsize=8, va="center",
                ha="right", rotation=90)
    ax.set_xscale("log", base=2)
    ticks = sorted(lengths)
    ax.set_xticks(ticks, [_length_label(t) for t in ticks])
    ax.minorticks_off()
    ax.set_ylim(-5, 105)
    ax.set_xlabel("prompt length (tokens)")
    ax.set_ylabel("passkey accuracy (%, mean over depths)")
    ax.set_title("Passkey retrieval vs prompt length")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    _save(fig, path)
    return True


def _trained_window(runs: list[RunResult]) -> int | None:
    """The positions the model was trained on, from a `none` run's run.json (one model only), else None."""
    import json

    windows = set()
    for run in runs:
        if run.method == "none" and run.path and (Path(run.path) / "run.json").is_file():
            info = json.loads((Path(run.path) / "run.json").read_text(encoding="utf-8"))
            if isinstance(info.get("context_window"), int):
                windows.add(info["context_window"])
    return windows.pop() if len(windows) == 1 and len({run.model for run in runs}) == 1 else None


def plot_passkey_depths(runs: list[RunResult], path: Path) -> bool:
    """Depth x length accuracy maps, one panel per method."""
    panels = passkey_cells(runs)
    if not panels:
        return False
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
        ax.set_xticks(range(len(lengths)), [_length_label(n) for n in lengths], fontsize=7, rotation=45)
        ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths], fontsize=7)
        ax.set_title(_short(label, 28), fontsize=8)
        ax.set_xlabel("prompt length", fontsize=7)
    axes[0][0].set_ylabel("key depth", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), fraction=0.05, pad=0.02, label="accuracy (%)")
    _save(fig, path)
    return True
