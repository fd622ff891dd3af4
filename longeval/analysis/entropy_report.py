"""Entropy measurements -> CSV rows and the two plots (layer x position heat map; entropy against length).

Summary rows: one per (model, method, length, layer, position bucket), averaged over samples and the bucket's
queries per head, then summarised over heads (mean, standard deviation, min, max). `uniform` is the entropy the
bucket's queries would have with uniform attention (mean of ln(p+1)), the ceiling any head can reach.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from longeval.analysis.entropy import EntropyRecorder
from longeval.io import write_atomic, write_bytes_atomic

SUMMARY_COLUMNS = ["model", "method", "length", "layer", "bucket_start", "bucket_end", "queries", "samples",
                   "entropy_mean", "entropy_std", "entropy_min", "entropy_max", "uniform"]
HEAD_COLUMNS = ["model", "method", "length", "layer", "head", "bucket_start", "bucket_end", "queries", "samples",
                "entropy"]


@dataclass
class Accumulated:
    """Sums over samples for one (method, length): per layer [heads, buckets] entropy sums and query counts."""

    length: int
    bucket_size: int
    samples: int = 0
    sums: dict[int, torch.Tensor] = field(default_factory=dict)
    counts: dict[int, torch.Tensor] = field(default_factory=dict)

    def add(self, recorder: EntropyRecorder) -> None:
        self.samples += 1
        for layer, totals in recorder.layers.items():
            if layer in self.sums:
                self.sums[layer] += totals.sums
                self.counts[layer] += totals.counts
            else:
                self.sums[layer] = totals.sums.clone()
                self.counts[layer] = totals.counts.clone()

    def per_head(self, layer: int) -> torch.Tensor:
        """Mean entropy per head and bucket, [heads, buckets]."""
        return self.sums[layer] / self.counts[layer].clamp(min=1)


def _uniform_entropy(start: int, end: int) -> float:
    """Mean over positions p in [start, end) of ln(p+1): the entropy of attending uniformly to p+1 keys."""
    return sum(math.log(p + 1) for p in range(start, end)) / (end - start)


def summary_rows(model: str, method: str, acc: Accumulated) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for layer in sorted(acc.sums):
        heads = acc.per_head(layer)
        for bucket in range(heads.shape[1]):
            start = bucket * acc.bucket_size
            end = min(acc.length, start + acc.bucket_size)
            values = heads[:, bucket]
            queries = int(acc.counts[layer][bucket]) // max(1, acc.samples)
            rows.append({"model": model, "method": method, "length": acc.length, "layer": layer,
                         "bucket_start": start, "bucket_end": end, "queries": queries,
                         "samples": acc.samples, "entropy_mean": float(values.mean()),
                         "entropy_std": float(values.std(unbiased=False)), "entropy_min": float(values.min()),
                         "entropy_max": float(values.max()), "uniform": _uniform_entropy(start, end)})
    return rows


def head_rows(model: str, method: str, acc: Accumulated) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for layer in sorted(acc.sums):
        heads = acc.per_head(layer)
        for head in range(heads.shape[0]):
            for bucket in range(heads.shape[1]):
                start = bucket * acc.bucket_size
                rows.append({"model": model, "method": method, "length": acc.length, "layer": layer, "head": head,
                             "bucket_start": start, "bucket_end": min(acc.length, start + acc.bucket_size),
                             "queries": int(acc.counts[layer][bucket]) // max(1, acc.samples),
                             "samples": acc.samples,
                             "entropy": float(heads[head, bucket])})
    return rows


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})
    write_atomic(path, buffer.getvalue())


def read_summary_csv(path: Path) -> list[dict[str, object]]:
    """Rows of an entropy.csv written earlier (numbers parsed), for merging runs made separately."""
    from longeval.errors import UserError

    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in SUMMARY_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"not an entropy.csv (missing columns {', '.join(missing)})", path=path)
            rows: list[dict[str, object]] = []
            for line, raw in enumerate(reader, start=2):
                row: dict[str, object] = dict(raw)
                for column in ("length", "layer", "bucket_start", "bucket_end", "queries", "samples"):
                    row[column] = _parse(raw[column], int, path, line, column)
                for column in ("entropy_mean", "entropy_std", "entropy_min", "entropy_max", "uniform"):
                    row[column] = _parse(raw[column], float, path, line, column)
                rows.append(row)
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if not rows:
        raise UserError("holds no rows", path=path)
    return rows


def _parse(text: str | None, kind: type, path: Path, line: int, column: str):
    from longeval.errors import UserError

    try:
        return kind(text)
    except (TypeError, ValueError):
        raise UserError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}", path=path,
                        line=line, field=column) from None


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def plot_heatmap(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Layer x query-position heat map of the head-mean entropy, one panel per method, at the longest length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    longest = max(int(r["length"]) for r in rows)
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    chosen = [r for r in rows if r["length"] == longest]
    layers = sorted({int(r["layer"]) for r in chosen})
    starts = sorted({int(r["bucket_start"]) for r in chosen})
    grids = {}
    for method in methods:
        grid = torch.full((len(layers), len(starts)), float("nan"))
        for r in chosen:
            if r["method"] == method:
                grid[layers.index(int(r["layer"])), starts.index(int(r["bucket_start"]))] = float(r["entropy_mean"])
        grids[method] = grid.numpy()
    low = min(float(np.nanmin(g)) for g in grids.values())
    high = max(float(np.nanmax(g)) for g in grids.values())
    fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods) + 1, 0.18 * len(layers) + 2.5), dpi=110,
                             squeeze=False, sharey=True)
    image = None
    for ax, method in zip(axes[0], methods, strict=True):
        image = ax.imshow(grids[method], aspect="auto", origin="lower", vmin=low, vmax=high, cmap="viridis",
                          extent=(0, longest, layers[0] - 0.5, layers[-1] + 0.5), interpolation="nearest")
        ax.set_title(method)
        ax.set_xlabel("query position")
    axes[0][0].set_ylabel("layer")
    axes[0][0].yaxis.get_major_locator().set_params(integer=True)
    assert image is not None  # one panel per method, at least one method
    fig.colorbar(image, ax=axes[0].tolist(), label="attention entropy (nats, mean over heads)")
    fig.suptitle(f"{title}: entropy by layer and query position at {longest:,} tokens", y=1.03)
    _save(fig, path)


def plot_vs_length(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Entropy of each length's last position bucket against length: a panel per layer, a line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    layers = sorted({int(r["layer"]) for r in rows})
    lengths = sorted({int(r["length"]) for r in rows})
    last: dict[tuple[Any, int, int], dict[str, Any]] = {}  # (method, length, layer) -> row of the last bucket
    for r in rows:
        key = (r["method"], int(r["length"]), int(r["layer"]))
        if key not in last or int(r["bucket_start"]) > int(last[key]["bucket_start"]):
            last[key] = r
    columns = min(6, len(layers))
    lines = math.ceil(len(layers) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(2.6 * columns, 2.1 * lines + 0.8), dpi=110, squeeze=False,
                             sharex=True)
    for index, layer in enumerate(layers):
        ax = axes[index // columns][index % columns]
        for method in methods:
            ys = [float(last[(method, n, layer)]["entropy_mean"]) for n in lengths if (method, n, layer) in last]
            xs = [n for n in lengths if (method, n, layer) in last]
            ax.plot(xs, ys, marker="o", markersize=3, label=method)
        uniform = [float(last[(methods[0], n, layer)]["uniform"]) for n in lengths if (methods[0], n, layer) in last]
        ax.plot(lengths[:len(uniform)], uniform, color="grey", linestyle=":", linewidth=1, label="uniform")
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [f"{n / 1024:g}k" if n % 1024 == 0 else str(n) for n in lengths])
        ax.minorticks_off()
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.tick_params(labelsize=7)
    for index in range(len(layers), lines * columns):
        axes[index // columns][index % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(f"{title}: entropy of the last {int(rows[0]['bucket_end']) - int(rows[0]['bucket_start'])} "
                 "queries against context length")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    _save(fig, path)
