"""Per-record scores kept with a run: computed once when the run is scored, read back by the paired statistics.

`record_scores.json` sits beside run.json (pred/ keeps the official layout). For each prediction file it holds the
sha256 of the file's bytes, the task, and every line's `_id` and score in [0, 1] in line order: the numbers the
task's entry in result.json averages, from the family's official metric (`Benchmark.record_scores`). A reader
uses an entry only while the file's digest is unchanged, so an edited or extended pred file is scored again and a
stale entry can never stand in for it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from longeval.io import write_atomic

SCHEMA = 1


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_entry(task: str, path: Path, ids: Sequence[str | None], scores: Sequence[float]) -> dict[str, Any]:
    """One prediction file's kept scores (the digest is of the bytes the scores were computed from)."""
    return {"task": task, "sha256": file_digest(path), "ids": list(ids), "scores": [float(s) for s in scores]}


def write(path: Path, entries: Mapping[str, dict[str, Any]]) -> Path:
    """Write every file's entry (keyed by file stem) to `path` (a run folder's record_scores.json), atomically."""
    write_atomic(path, json.dumps({"schema": SCHEMA, "files": dict(sorted(entries.items()))}) + "\n")
    return path


def stored(path: Path, stem: str, pred_file: Path, count: int) -> list[float] | None:
    """The kept scores of `pred_file`, or None when there are none or they no longer describe its bytes (or do not
    look like scores: a damaged file is never trusted, only recomputed)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entry = doc["files"][stem]
        scores = entry["scores"]
        if doc.get("schema") != SCHEMA or entry["sha256"] != file_digest(pred_file):
            return None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    valid = (isinstance(scores, list) and len(scores) == count
             and all(isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) and 0 <= s <= 1
                     for s in scores))
    return [float(s) for s in scores] if valid else None
