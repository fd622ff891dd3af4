"""The scoring entry point: prediction folders (``<stem>.jsonl`` per task) -> ``result.json``, each task's entry
made by its benchmark family (longeval.benchmarks: `read_predictions`, `task_result`).

``result.json`` is ``json.dump(indent=4, ensure_ascii=False)``, keys in file-name order (the official eval.py
uses the directory listing order, which is arbitrary). Every file is checked before anything is written; a file
counts only if a family claims its name (`task_for_file`), others are listed as skipped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks import all_benchmarks, benchmark_of
from longeval.errors import UserError
from longeval.io import write_atomic
from longeval.tasks import Task, all_tasks

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"


@dataclass
class PredictionFile:
    task: Task
    path: Path
    lines: list[dict[str, Any]]  # as the family's read_predictions checked them

    @property
    def name(self) -> str:
        """The result.json key: the file stem (eval.py's dataset name)."""
        return self.path.name.removesuffix(".jsonl")


@dataclass
class PredictionFolder:
    path: Path
    files: list[PredictionFile]
    skipped: list[Path] = field(default_factory=list)


def task_for_file(path: Path) -> Task | None:
    """The task a prediction file belongs to (``trec.jsonl``, ``trec_e.jsonl``, any family's), or None."""
    for unit in all_benchmarks().values():
        task = unit.task_for_file(path)
        if task is not None:
            return task
    return None


def as_variant(task: Task, variant: bool) -> Task:
    """`score --e`: the task as a variant of itself (a registered variant writing the same file, else the task
    with `variant_of` set), or without --e as a plain task: the flag, not the file name, decides how it scores."""
    if not variant:
        return dataclasses.replace(task, variant_of=None) if task.variant_of else task
    if task.variant_of:
        return task
    unit = benchmark_of(task)
    stem = unit.pred_file_stem(task)
    for other in unit.known_tasks().values():
        if other.variant_of == task.name and unit.pred_file_stem(other) == stem:
            return other
    return dataclasses.replace(task, variant_of=task.name)


def read_prediction_folder(folder: str | Path, *, e: bool = False) -> PredictionFolder:
    """Every ``<task>.jsonl`` in folder, validated; other ``*.jsonl`` files are listed in ``skipped``. With `e`
    each file's task is scored as its variant (LongBench-E: per length bucket)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("prediction folder not found" if not folder.exists() else "not a folder", path=folder)
    files: list[PredictionFile] = []
    skipped: list[Path] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".jsonl"):
            continue
        found = task_for_file(path) if path.is_file() else None
        if found is None:
            skipped.append(path)
            continue
        task = as_variant(found, e)
        files.append(PredictionFile(task, path, benchmark_of(task).read_predictions(task, path)))
    if not files:
        first, *others = _titles()
        nor = f" (nor {', '.join(others)} ones)" if others else ""
        raise UserError(f"no {first} prediction files (<task>.jsonl) in folder{nor}", path=folder)
    return PredictionFolder(folder, files, skipped)


def _titles() -> list[str]:
    return [unit.title or unit.name for unit in all_benchmarks().values()]


def score_loaded_folder(folder: PredictionFolder, *, e: bool = False, progress: bool = False) -> dict[str, Any]:
    """The result.json content for a validated folder (not written); `e` was applied when it was read."""
    files: Iterable[PredictionFile] = folder.files
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc=folder.path.name, unit="task", leave=False, disable=None)
    return {pred_file.name: benchmark_of(pred_file.task).task_result(pred_file.task, pred_file.lines)
            for pred_file in files}


def format_result(result: Mapping[str, Any]) -> str:
    """result.json text exactly as eval.py writes it (json.dump, indent 4, non-ASCII kept, NaN as NaN)."""
    import json

    return json.dumps(result, ensure_ascii=False, indent=4)


def write_result(folder: str | Path, result: Mapping[str, Any]) -> Path:
    path = Path(folder) / RESULT_FILE
    write_atomic(path, format_result(result))
    return path


def score_tasks(pred_dir: str | Path, task_names: Sequence[str]) -> dict[str, Any]:
    """result.json of a run folder: each task's family reads its prediction file and gives its entry (the file
    stem is the key, in file-name order as eval.py lists them). Tasks without a file yet are left out; a task no
    longer defined is skipped with a warning. All files are read (and checked) before anything is returned."""
    from longeval.benchmarks import benchmark_of

    pred_dir = Path(pred_dir)
    entries: dict[str, Any] = {}
    for name in task_names:
        task = all_tasks().get(name)
        if task is None:
            log.warning("skipped task %s: not defined any more", name)
            continue
        unit = benchmark_of(task)
        path = pred_dir / f"{unit.pred_file_stem(task)}.jsonl"
        if path.is_file():
            entries[path.name] = unit.task_result(task, unit.read_predictions(task, path))
    if not entries:
        raise UserError("no prediction files of the run's tasks in folder", path=pred_dir)
    return {file_name.removesuffix(".jsonl"): entries[file_name] for file_name in sorted(entries)}


def score_folder(folder: str | Path, e: bool = False) -> dict[str, Any]:
    """Score every ``<task>.jsonl`` in folder, write ``folder/result.json`` atomically, return its content.

    All files are validated first: on bad input a UserError is raised and no result.json is written.
    """
    loaded = read_prediction_folder(folder, e=e)
    for path in loaded.skipped:
        log.warning("skipped %s: not the file of a known task", path)
    result = score_loaded_folder(loaded, e=e)
    write_result(loaded.path, result)
    return result
