"""Pair two runs' records task by task, or refuse: a paired test is only valid on the same records.

Records pair by `_id` when both files give every line a distinct one; the two id sets must then be equal. Official
prediction folders carry no `_id`: their records pair by position, and only when both files have the same count
and the same `answers` on every line (the data in the same order); otherwise the pairing is refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from longeval.errors import UserError
from longeval.report.records import Entry, RunRecords


@dataclass(frozen=True)
class Pair:
    key: str
    base: tuple[float, ...]  # per-record scores in [0, 1], in the same record order as candidate
    candidate: tuple[float, ...]
    binary: bool
    base_score: float  # the official task scores (points, as result.json)
    candidate_score: float
    by: str  # "_id" or "position"


def pair_entry(base: Entry, candidate: Entry, base_name: str, candidate_name: str) -> Pair:
    """The records of one task of two runs, in one order; UserError (one line) when they cannot be paired."""
    where = f"task {base.key} of '{base_name}' and '{candidate_name}'"
    if base.ids is not None and candidate.ids is not None:
        if set(base.ids) != set(candidate.ids):
            only_base = len(set(base.ids) - set(candidate.ids))
            only_candidate = len(set(candidate.ids) - set(base.ids))
            raise UserError(f"{where} were scored on other records ({only_base} _id(s) only in the first, "
                            f"{only_candidate} only in the second); a paired comparison needs the same records",
                            path=candidate.path)
        position = {record_id: i for i, record_id in enumerate(candidate.ids)}
        order = [position[record_id] for record_id in base.ids]
        scores = tuple(candidate.scores[i] for i in order)
        by = "_id"
    else:
        if len(base.scores) != len(candidate.scores):
            raise UserError(f"{where} cannot be paired: no _id on every line, and {len(base.scores)} vs "
                            f"{len(candidate.scores)} records", path=candidate.path)
        for line, (left, right) in enumerate(zip(base.answers, candidate.answers, strict=True), start=1):
            if left != right:
                raise UserError(f"{where} cannot be paired: no _id on every line, and the answers differ at record "
                                f"{line} (not the same records in the same order)", path=candidate.path, line=line,
                                field="answers")
        scores = candidate.scores
        by = "position"
    binary = base.binary and candidate.binary
    return Pair(base.key, base.scores, scores, binary, base.official, candidate.official, by)


def pair_runs(base: RunRecords, candidate: RunRecords, keys: list[str] | None = None) -> dict[str, Pair]:
    """Every task both runs have (or `keys`, which both must have), paired."""
    common = [key for key in base.entries if key in candidate.entries]
    if keys is not None:
        for key in keys:
            for run in (base, candidate):
                if key not in run.entries:
                    raise UserError(f"run '{run.name}' has no per-record predictions for {key}", path=run.pred_dir)
        common = list(keys)
    if not common:
        raise UserError(f"runs '{base.name}' and '{candidate.name}' have no task in common "
                        f"({', '.join(base.entries)} vs {', '.join(candidate.entries)})", path=candidate.pred_dir)
    return {key: pair_entry(base.entries[key], candidate.entries[key], base.name, candidate.name) for key in common}
