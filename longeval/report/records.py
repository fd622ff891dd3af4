"""Per-record scores of one run: what the paired statistics (compare, report --ci, check --significance) resample.

A run is a run folder (run.json + pred/), its pred/ folder, or an official prediction folder (`<task>.jsonl`,
with or without result.json). Each prediction file gives one entry per task, or for a LongBench-E result (its
result.json holds buckets) one entry per length bucket, keyed `task[bucket]` as the CI gate keys them. The
per-record scores are the official metric's, so their rounded mean is the score result.json holds (a test checks
this on real prediction folders); `record_scores` and `is_binary` are the one place that knows how a task scores a
record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.benchmarks import benchmark_of
from longeval.errors import UserError
from longeval.io import iter_jsonl
from longeval.scoring import BUCKETS, bucket_of, bucket_scores, task_for_file, task_score
from longeval.tasks import Task


@dataclass(frozen=True)
class Entry:
    """One task (or task[bucket]) of a run: its records in file order and their official per-record scores."""

    key: str
    ids: tuple[str, ...] | None  # every line's `_id` when each has a distinct one (official pred.py writes none)
    answers: tuple[tuple[str, ...], ...]
    scores: tuple[float, ...]  # in [0, 1]
    binary: bool  # per-record scores are 0/1 by the metric's definition (McNemar applies)
    official: float  # the task score as result.json holds it (points, 2 decimals)
    path: Path


@dataclass
class RunRecords:
    name: str
    pred_dir: Path
    entries: dict[str, Entry]
    result: dict[str, Any] | None  # the folder's result.json, when it has one


# --- the seam to the benchmark unit: how a task scores one record ---------------------------------------------

def record_scores(task: Task, lines: list[tuple[int, dict[str, Any]]], path: Path) -> list[float]:
    """The official per-record scores of a prediction file's (line number, line) pairs, checked by the task's
    family (a bad field is a located UserError): the numbers result.json averages."""
    unit = benchmark_of(task)
    checked = unit.read_predictions(task, path)
    if len(checked) != len(lines):
        raise UserError("changed while it was read", path=path)
    return unit.record_scores(task, checked)


def is_binary(task: Task) -> bool:
    """Per-record scores are 0 or 1 by the family's definition (an exact match), so McNemar's test applies."""
    return benchmark_of(task).is_binary(task)


# --- reading a run -------------------------------------------------------------------------------------------

def locate(path: str | Path) -> tuple[str, Path]:
    """(run name, prediction folder) of a run folder, its pred/ folder, or an official prediction folder."""
    folder = Path(path)
    if not folder.exists():
        raise UserError("no such run or prediction folder", path=folder)
    if not folder.is_dir():
        raise UserError("expected a run folder or a prediction folder", path=folder)
    run_root = folder.parent if folder.name == "pred" and (folder.parent / "run.json").is_file() else folder
    if (run_root / "run.json").is_file():
        return _run_name(run_root), run_root / "pred"
    if not any(folder.glob("*.jsonl")) and (folder / "pred").is_dir():
        return folder.name, folder / "pred"
    return folder.name, folder


def _run_name(folder: Path) -> str:
    from longeval.runs.record import RunRecord

    try:
        record = RunRecord.from_json(json.loads((folder / "run.json").read_text(encoding="utf-8")),
                                     folder / "run.json")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read run.json ({exc})", path=folder / "run.json") from None
    return record.run_name or folder.name


def read_run(path: str | Path, tasks: list[str] | None = None) -> RunRecords:
    """Every task file of a run (only `tasks`, by result.json key, when given), scored record by record."""
    name, pred_dir = locate(path)
    result = _read_result(pred_dir / "result.json")
    entries: dict[str, Entry] = {}
    files = sorted(pred_dir.glob("*.jsonl")) if pred_dir.is_dir() else []
    for file in files:
        task = task_for_file(file)
        stem = file.name.removesuffix(".jsonl")
        if task is None or (tasks is not None and stem not in tasks):
            continue
        bucketed = result is not None and isinstance(result.get(stem), dict)
        for entry in _file_entries(task, stem, file, bucketed):
            entries[entry.key] = entry
    if not entries:
        wanted = f" for {', '.join(tasks)}" if tasks is not None else ""
        raise UserError(f"no prediction files (<task>.jsonl){wanted}", path=pred_dir)
    return RunRecords(name, pred_dir, entries, result)


def stale_scores(run: RunRecords) -> list[str]:
    """Where the folder's result.json disagrees with its prediction files (edited or re-run after scoring)."""
    if run.result is None:
        return []
    messages = []
    for key, entry in run.entries.items():
        task, _, bucket = key.partition("[")
        stored = run.result.get(task)
        if bucket and isinstance(stored, dict):
            stored = stored.get(bucket.rstrip("]"))
        if isinstance(stored, int | float) and not isinstance(stored, bool) and stored != entry.official:
            messages.append(f"{run.pred_dir / 'result.json'}: {key} is {stored:g} there but its predictions score "
                            f"{entry.official:g} (re-score with `longeval score`); the predictions are used")
    return messages


def _read_result(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read ({exc})", path=path) from None
    return doc if isinstance(doc, dict) else None


def _file_entries(task: Task, stem: str, path: Path, bucketed: bool) -> list[Entry]:
    numbered = list(iter_jsonl(path))
    if not numbered:
        raise UserError("no predictions in file", path=path)
    scores = record_scores(task, numbered, path)
    lines = [line for _, line in numbered]
    ids = [line.get("_id") for line in lines]
    answers = [tuple(line["answers"]) for line in lines]
    binary = is_binary(task)
    if not bucketed:
        return [Entry(stem, _distinct(ids), tuple(answers), tuple(scores), binary, task_score(scores), path)]
    lengths = []
    for number, line in numbered:
        length = line.get("length")
        if isinstance(length, bool) or not isinstance(length, int):
            raise UserError("LongBench-E needs an integer 'length' on every line", path=path, line=number,
                            field="length")
        lengths.append(length)
    official = bucket_scores(scores, lengths)
    entries = []
    for bucket in BUCKETS:
        rows = [i for i, length in enumerate(lengths) if bucket_of(length) == bucket]
        if rows:
            entries.append(Entry(f"{stem}[{bucket}]", _distinct([ids[i] for i in rows]),
                                 tuple(answers[i] for i in rows), tuple(scores[i] for i in rows), binary,
                                 official[bucket], path))
    return entries


def _distinct(ids: list[Any]) -> tuple[str, ...] | None:
    if all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids):
        return tuple(ids)
    return None
