"""Per-record scores of one run: what the paired statistics (compare, report --ci, check --significance) resample.

A run is a run folder (run.json + pred/), its pred/ folder, or an official prediction folder (`<task>.jsonl`,
with or without result.json). Each prediction file gives one entry per task, or for a LongBench-E result (its
result.json holds buckets) one entry per length bucket, keyed `task[bucket]` as the CI gate keys them. The
per-record scores are the official metric's, so their rounded mean is the score result.json holds (a test checks
this on real prediction folders); how a task reads, scores and groups its records is its family's
(longeval.benchmarks: read_predictions, record_scores, record_groups, is_binary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.benchmarks import benchmark_of
from longeval.errors import UserError
from longeval.runs import record_scores
from longeval.runs.folder import RunFolderView
from longeval.scoring import as_variant, task_for_file
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


# --- reading a run -------------------------------------------------------------------------------------------

def locate(path: str | Path) -> tuple[str, Path]:
    """(run name, prediction folder) of a run folder, its pred/ folder, or an official prediction folder."""
    folder = Path(path)
    if not folder.exists():
        raise UserError("no such run or prediction folder", path=folder)
    if not folder.is_dir():
        raise UserError("expected a run folder or a prediction folder", path=folder)
    run = RunFolderView.of(folder)
    if run is not None:
        return _run_name(run), run.pred_dir
    if not any(folder.glob("*.jsonl")) and RunFolderView(folder).pred_dir.is_dir():
        return folder.name, RunFolderView(folder).pred_dir
    return folder.name, folder


def _run_name(run: RunFolderView) -> str:
    return run.record().run_name or run.path.name


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
    """The file's entries: one for the task, or (its result.json entry holds buckets) one per bucket, as the
    task's family groups the records."""
    task = as_variant(task, bucketed)
    unit = benchmark_of(task)
    lines = unit.read_predictions(task, path)
    # A run folder keeps the scores it was finalized with (runs/record_scores.py); official folders have none.
    run = RunFolderView(path.parent.parent)
    kept = run.is_run() and path.parent == run.pred_dir
    scores = record_scores.stored(run.record_scores, stem, path, len(lines)) if kept else None
    if scores is None:
        scores = unit.record_scores(task, lines)
    ids = unit.record_ids(task, lines)
    answers = unit.record_answers(task, lines)
    binary = unit.is_binary(task)
    official = unit.task_result(task, lines)
    groups = unit.record_groups(task, lines) if isinstance(official, dict) else {}
    if not groups:
        headline = unit.headline(task, official)
        if headline is None:
            raise UserError(f"task {task.name}: its result has no single score", path=path)
        return [Entry(stem, _distinct(ids), tuple(answers), tuple(scores), binary, headline, path)]
    entries = []
    for bucket, rows in groups.items():
        if rows:
            entries.append(Entry(f"{stem}[{bucket}]", _distinct([ids[i] for i in rows]),
                                 tuple(answers[i] for i in rows), tuple(scores[i] for i in rows), binary,
                                 official[bucket], path))
    return entries


def _distinct(ids: list[Any]) -> tuple[str, ...] | None:
    if all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids):
        return tuple(ids)
    return None
