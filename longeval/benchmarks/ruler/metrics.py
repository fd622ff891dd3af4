"""RULER's scores: string_match_all (every reference must appear) and string_match_part (any one), case-folded
substring tests on the prediction after RULER's post-processing (strip, control characters to newlines, strip).

Definitions from NVIDIA/RULER scripts/eval/synthetic/constants.py and scripts/eval/evaluate.py (c3f5e3b),
written here: a task's score is the mean of the per-record scores x 100, rounded to 2 decimals, as RULER's
functions return it; the per-record scores are what McNemar and the bootstrap use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

METRICS = ("string_match_all", "string_match_part")
_CONTROL = re.compile(r"[\x00-\x1f]")


def postprocess(prediction: str) -> str:
    """evaluate.py's postprocess_pred: strip, every control character (newline and tab included) to a newline, strip."""
    return _CONTROL.sub("\n", prediction.strip()).strip()


def match_all(prediction: str, references: Sequence[str]) -> float:
    """The fraction of references found in the prediction (case-insensitive substring)."""
    lowered = prediction.lower()
    return sum(1.0 if ref.lower() in lowered else 0.0 for ref in references) / len(references)


def match_part(prediction: str, references: Sequence[str]) -> float:
    """1.0 if any reference is found in the prediction (case-insensitive substring), else 0.0."""
    lowered = prediction.lower()
    return max(1.0 if ref.lower() in lowered else 0.0 for ref in references)


RECORD_METRICS = {"string_match_all": match_all, "string_match_part": match_part}


def record_score(metric: str, prediction: str, references: Sequence[str]) -> float:
    """One record's score in [0, 1]: the metric on the post-processed prediction."""
    return RECORD_METRICS[metric](postprocess(prediction), references)


def task_score(metric: str, predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """The task's RULER score (0-100, 2 decimals): evaluate.py's run_evaluation_per_task.

    As there, a task whose first record has no reference (None) scores 0.0, and so does an empty task.
    """
    if not predictions or not references or not references[0] or references[0][0] is None:
        return 0.0
    scores = [record_score(metric, p, r) for p, r in zip(predictions, references, strict=True)]
    return round(sum(scores) / len(scores) * 100, 2)


def null_count(predictions: Sequence[str]) -> str:
    """evaluate.py's "nulls" column: how many post-processed predictions are empty, as 'k/n'."""
    return f"{sum(1 for p in predictions if not postprocess(p))}/{len(predictions)}"
