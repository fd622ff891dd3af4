"""The output folder of `longeval ppl`: ppl.json (provenance and every finished cell), ppl.csv and the plot.

ppl.json is the ledger: a cell (method, length) is written to it, atomically, as soon as it is finished, and a
re-run skips the cells it holds. Its `identity` (model config and weights, text checksum, protocol settings) must
match the new command's, else the folder is refused in one line: numbers of another model, other text or another
protocol must not be mixed into one table. A second process on the same folder is refused too (a lock file).
ppl.csv and ppl_vs_length.png are drawn from the ledger.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
from pathlib import Path
from typing import Any

from longeval.errors import UserError
from longeval.io import write_atomic, write_bytes_atomic, write_json_atomic

LEDGER = "ppl.json"
TABLE = "ppl.csv"
PLOT = "ppl_vs_length.png"
LOCK = ".ppl.lock"
COLUMNS = ("method", "length", "documents", "tokens", "nll", "ppl")
# Identity keys -> how a refusal names what changed.
_WHAT = {"model": "another model (config or weights)", "text_sha256": "other text", "samples": "another --samples",
         "stride": "another --stride", "backend": "another --backend", "dtype": "another --dtype"}


class PplFolder:
    """An output folder held by this process: its ledger, read and extended cell by cell."""

    def __init__(self, out: Path, identity: dict[str, Any]) -> None:
        self.out = out
        self.ledger = out / LEDGER
        try:
            out.mkdir(parents=True, exist_ok=True)
            self._lock = (out / LOCK).open("a")
        except OSError as exc:
            raise UserError(f"cannot write here ({exc.strerror or exc})", path=out) from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise UserError("another `longeval ppl` is writing this folder; wait for it or use another --out",
                            path=out) from None
        self.doc: dict[str, Any] = {"identity": identity, "methods": {}, "cells": []}
        if self.ledger.is_file():
            self.doc = self._read()
            if self.doc.get("identity") != identity:
                self.close()
                raise UserError(f"holds perplexities of {self._difference(self.doc.get('identity') or {}, identity)}"
                                f" than this command: use another --out, or delete {LEDGER} to start over",
                                path=self.ledger)

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.ledger.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"not a readable ledger ({exc})".splitlines()[0], path=self.ledger) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
            raise UserError("not a ppl ledger (no 'cells' list)", path=self.ledger)
        doc.setdefault("methods", {})
        return doc

    @staticmethod
    def _difference(old: dict[str, Any], new: dict[str, Any]) -> str:
        for key, words in _WHAT.items():
            if old.get(key) != new.get(key):
                return words if key in ("model", "text_sha256") else f"{words} ({old.get(key)}, now {new.get(key)})"
        return "other settings"

    def close(self) -> None:
        self._lock.close()

    def done(self, method: str, length: int) -> dict[str, Any] | None:
        return next((c for c in self.doc["cells"] if c["method"] == method and c["length"] == length), None)

    def add(self, cell: dict[str, Any], provenance: dict[str, Any], method: dict[str, Any]) -> None:
        """Record a finished cell: the ledger first (durable), then the table drawn from it."""
        self.doc.update(provenance)
        self.doc["methods"].setdefault(cell["method"], method)
        self.doc["cells"] = [c for c in self.doc["cells"]
                             if (c["method"], c["length"]) != (cell["method"], cell["length"])] + [cell]
        write_json_atomic(self.ledger, self.doc, indent=1)
        self.write_table()

    def rows(self) -> list[dict[str, Any]]:
        """Cells in method order (first recorded first), then by length."""
        order = {name: index for index, name in enumerate(self.doc["methods"])}
        return sorted(self.doc["cells"], key=lambda c: (order.get(c["method"], len(order)), c["length"]))

    def write_table(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for cell in self.rows():
            writer.writerow([cell["method"], cell["length"], cell["documents"], cell["tokens"], repr(cell["nll"]),
                             repr(cell["ppl"])])
        write_atomic(self.out / TABLE, buffer.getvalue())

    def plot(self, title: str) -> Path:
        path = self.out / PLOT
        plot_ppl(self.rows(), path, title)
        return path


def plot_ppl(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Perplexity against length, a line per method, log scales. Methods with identical values stay visible:
    earlier lines are drawn wider and underneath, each with its own marker and dash pattern."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    lengths = sorted({int(r["length"]) for r in rows})
    markers, dashes = "osD^vP*X", ["-", "--", "-.", ":"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for index, method in enumerate(methods):
        points = sorted((int(r["length"]), float(r["ppl"])) for r in rows if r["method"] == method)
        wider = len(methods) - 1 - index
        ax.plot([x for x, _ in points], [y for _, y in points], label=method, marker=markers[index % len(markers)],
                linestyle=dashes[index % len(dashes)], linewidth=1.4 + 1.6 * wider, markersize=4 + 2.5 * wider,
                alpha=0.85, zorder=2 + index)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    # Perplexities often span less than a decade, where a log axis has no labelled tick: five labelled ones.
    values = [float(r["ppl"]) for r in rows]
    low, high = min(values), max(values)
    ticks = sorted({float(f"{low * (high / low) ** (i / 4):.3g}") for i in range(5)})
    ax.set_yticks(ticks, [f"{t:,.0f}" if t >= 100 else f"{t:.3g}" for t in ticks])
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(lengths, [f"{n / 1024:g}k" if n % 1024 == 0 else str(n) for n in lengths])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())

