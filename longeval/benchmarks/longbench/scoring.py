"""LongBench v1 scores as the official eval.py computes them (THUDM/LongBench @ 2e00731, spec in the docstrings).

Aggregation follows eval.py: ``all_classes`` comes from the LAST line of a file and serves every sample; a task
score is ``round(100 * sum / count, 2)`` summed in file order; LongBench-E buckets the samples by ``length``
(< 4000, < 8000, rest), each ``round(100 * numpy.mean, 2)``, NaN for an empty bucket (written as ``NaN``).
The per-sample metrics are metrics.py beside this module. Deliberate differences, all about input handling: every
line is checked (a bad field is a UserError naming file, line and field; eval.py crashes), blank lines are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.benchmarks.longbench.metrics import score_sample
from longeval.errors import UserError
from longeval.io import iter_jsonl
from longeval.tasks import Task, get_task

BUCKETS = ("0-4k", "4-8k", "8k+")  # LongBench-E length buckets, in official eval.py's order
# The official retrieval metrics take the gold id from the answer with these patterns (and crash without one).
_GOLD_PARAGRAPH = {"retrieval": re.compile(r"Paragraph (\d+)"), "retrieval_zh": re.compile(r"段落(\d+)")}


@dataclass(frozen=True)
class Prediction:
    pred: str
    answers: list[str]
    all_classes: list[str] | None
    length: int | None


def bucket_of(length: int) -> str:
    """LongBench-E bucket of a record by its `length` field (words, or characters for Chinese)."""
    if length < 4000:
        return "0-4k"
    if length < 8000:
        return "4-8k"
    return "8k+"


# --- reading and validating ------------------------------------------------------------------------------------

def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def parse_prediction(obj: Mapping[str, Any], *, path: Path, line: int, need_length: bool = False) -> Prediction:
    """One line of a prediction file, checked; a bad field is a UserError naming file, line and field."""
    for key in ("pred", "answers"):
        if key not in obj:
            raise UserError(f"missing '{key}'", path=path, line=line, field=key)
    if not isinstance(obj["pred"], str):
        raise UserError("must be a string", path=path, line=line, field="pred")
    if not _is_str_list(obj["answers"]):
        raise UserError("must be a list of strings", path=path, line=line, field="answers")
    all_classes = obj.get("all_classes")
    if all_classes is not None and not _is_str_list(all_classes):
        raise UserError("must be null or a list of strings", path=path, line=line, field="all_classes")
    length = obj.get("length")
    if length is None:
        if need_length:
            raise UserError("missing 'length' (needed for LongBench-E buckets)", path=path, line=line, field="length")
    elif isinstance(length, bool) or not isinstance(length, int):
        raise UserError(f"must be an integer, got {length!r}", path=path, line=line, field="length")
    return Prediction(obj["pred"], obj["answers"], all_classes, length)


def read_prediction_lines(path: str | Path, task: Task, *, need_length: bool = False) -> list[dict[str, Any]]:
    """The lines of one prediction file as written, each checked (parse_prediction, and what the task's metric
    needs: the gold paragraph in every answer of a retrieval task, the class list on a classification file's
    last line)."""
    lines, _ = _read_checked(Path(path), task, need_length)
    return lines


def _read_checked(path: Path, task: Task, need_length: bool) -> tuple[list[dict[str, Any]], list[Prediction]]:
    lines: list[dict[str, Any]] = []
    predictions: list[Prediction] = []
    line_numbers: list[int] = []
    for line, obj in iter_jsonl(path):
        predictions.append(parse_prediction(obj, path=path, line=line, need_length=need_length))
        lines.append(obj)
        line_numbers.append(line)
    if not predictions:
        raise UserError("no predictions in file", path=path)
    metric = getattr(task, "metric", None)
    gold_pattern = _GOLD_PARAGRAPH.get(metric or "")
    if gold_pattern is not None:
        for index, prediction in enumerate(predictions):
            if not all(gold_pattern.search(answer) for answer in prediction.answers):
                raise UserError(f"every answer of {task.name} must name the gold paragraph "
                                f"('{gold_pattern.pattern}')", path=path, line=line_numbers[index], field="answers")
    if metric == "classification" and predictions[-1].all_classes is None:
        raise UserError(f"task {task.name} needs the class list on the last line", path=path, line=line_numbers[-1],
                        field="all_classes")
    return lines, predictions


# --- scoring -------------------------------------------------------------------------------------------------

def sample_scores(task: Task, predictions: Sequence[Prediction], all_classes: Sequence[str] | None) -> list[float]:
    return [score_sample(task, p.pred, p.answers, all_classes) for p in predictions]


def task_score(scores: Sequence[float]) -> float:
    """eval.scorer: round(100 * sum / n, 2), summed left to right like its loop."""
    total = 0.0
    for score in scores:
        total += score
    return round(100 * total / len(scores), 2)


def bucket_scores(scores: Sequence[float], lengths: Sequence[int]) -> dict[str, float]:
    """eval.scorer_e: per bucket round(100 * numpy.mean, 2); NaN for an empty bucket."""
    import numpy as np

    grouped: dict[str, list[float]] = {bucket: [] for bucket in BUCKETS}
    for score, length in zip(scores, lengths, strict=True):
        grouped[bucket_of(length)].append(score)
    return {bucket: round(100 * float(np.mean(values)), 2) if values else math.nan
            for bucket, values in grouped.items()}


def to_predictions(records: Iterable[Mapping[str, Any] | Prediction]) -> list[Prediction]:
    out = []
    for record in records:
        if isinstance(record, Prediction):
            out.append(record)
        else:
            out.append(Prediction(record["pred"], list(record["answers"]), record.get("all_classes"),
                                  record.get("length")))
    if not out:
        raise ValueError("no predictions to score")
    return out


def score_predictions(task_name: str, records: Iterable[Mapping[str, Any] | Prediction]) -> float:
    """Official task score of records ({pred, answers, all_classes}); all_classes from the last record."""
    task = get_task(task_name)
    predictions = to_predictions(records)
    return task_score(sample_scores(task, predictions, predictions[-1].all_classes))


def score_predictions_e(task_name: str, records: Iterable[Mapping[str, Any] | Prediction]) -> dict[str, float]:
    """LongBench-E bucket scores of records ({pred, answers, all_classes, length})."""
    task = get_task(task_name)
    predictions = to_predictions(records)
    scores = sample_scores(task, predictions, predictions[-1].all_classes)
    return bucket_scores(scores, lengths_of(predictions))


def lengths_of(predictions: Sequence[Prediction]) -> list[int]:
    """Every record's `length` (LongBench-E buckets by it)."""
    lengths = [p.length for p in predictions if p.length is not None]
    if len(lengths) != len(predictions):
        raise ValueError("LongBench-E scoring needs a 'length' for every record")
    return lengths
