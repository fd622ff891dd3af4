"""A task's LongBench v2 result exactly as result.py computes it: accuracy overall, by difficulty, by length.

result.py counts a record as easy when difficulty == "easy" (else hard) and short/medium when length says so
(else long); each number is round(100 * correct / records, 1), with the sum multiplied by 100 before the division
as result.py writes it (the same float, so the same rounding). `compensated`: a record whose pred is None counts
0.25 instead of its judge, as result.py's switch does.

longeval keeps a record whose model output was empty (pred.py skips it and writes nothing, so result.py divides by
the records written): it is marked `empty_output`, scored wrong (0 even when compensated: it is no answer at all),
and the result also gives the numbers under the official convention (`official_skip`), so no number silently
differs from what pred.py + result.py would print.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BUCKETS = ("overall", "easy", "hard", "short", "medium", "long")
# result.py's column names, in its order (its header: Model, Overall, Easy, Hard, Short, Medium, Long)
COLUMNS = {"overall": "Overall", "easy": "Easy", "hard": "Hard", "short": "Short", "medium": "Medium",
           "long": "Long"}
EMPTY = "empty_output"


def record_score(line: Mapping[str, Any], compensated: bool = False) -> float:
    """One line's score: int(judge), or 0.25 for an unparsed answer when compensated; an empty output is 0."""
    if line.get(EMPTY):
        return 0
    if compensated and line["pred"] is None:
        return 0.25
    return int(line["judge"])


def buckets_of(line: Mapping[str, Any]) -> tuple[str, str]:
    """The difficulty and length buckets result.py puts a line in."""
    difficulty = "easy" if line["difficulty"] == "easy" else "hard"
    length = line["length"] if line["length"] in ("short", "medium") else "long"
    return difficulty, length


def accuracy(lines: Iterable[Mapping[str, Any]], compensated: bool = False) -> dict[str, Any]:
    """{"overall", "easy", ..., "long": percent rounded to 0.1 (None for a bucket with no records: result.py would
    divide by zero), "counts": records per bucket}."""
    sums: dict[str, float | int] = {b: 0 for b in BUCKETS[1:]}
    counts = {b: 0 for b in BUCKETS}
    for line in lines:
        score = record_score(line, compensated)
        for bucket in buckets_of(line):
            sums[bucket] += score
            counts[bucket] += 1
        counts["overall"] += 1
    out: dict[str, Any] = {}
    overall_sum = sums["easy"] + sums["hard"]
    out["overall"] = round(100 * overall_sum / counts["overall"], 1) if counts["overall"] else None
    for bucket in BUCKETS[1:]:
        out[bucket] = round(100 * sums[bucket] / counts[bucket], 1) if counts[bucket] else None
    out["counts"] = counts
    return out


def task_result(lines: list[Mapping[str, Any]], compensated: bool = False) -> dict[str, Any]:
    """The task's entry in result.json: the six numbers and counts, how many answers went unparsed, and with
    empty outputs, their number and the numbers the official skip convention would give."""
    result = accuracy(lines, compensated)
    result["compensated"] = compensated
    result["unparsed"] = sum(1 for line in lines if line["pred"] is None and not line.get(EMPTY))
    empty = sum(1 for line in lines if line.get(EMPTY))
    result["empty_outputs"] = empty
    if empty:
        kept = [line for line in lines if not line.get(EMPTY)]
        official = accuracy(kept, compensated)
        result["official_skip"] = {b: official[b] for b in BUCKETS} | {"records": len(kept)}
    return result


def empty_note(task: str, result: Mapping[str, Any]) -> str | None:
    """One line for the terminal when a task had empty outputs: how many, and what pred.py + result.py would say."""
    empty = result.get("empty_outputs", 0)
    if not empty:
        return None
    skip = result["official_skip"]
    return (f"{task}: {empty} empty model output(s) kept and scored wrong (overall {result['overall']}); the official "
            f"pred.py would skip them and result.py give overall {skip['overall']} on {skip['records']} records")
