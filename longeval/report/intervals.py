"""`report --ci`: each measured score with its bootstrap interval, and marks on the scores that differ from the
baseline run by more than noise (the paired test of `longeval compare`, Holm-adjusted over the run's tasks).

Intervals come from the run's prediction files (records resampled, as `compare` does); a published row or a CSV
row has no records, so it gets none, and the report says so in a note rather than printing a bare number as if it
were as certain as the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from longeval.errors import UserError
from longeval.report.collect import RunResult
from longeval.report.pairing import pair_runs
from longeval.report.records import RunRecords, read_run
from longeval.report.stats import DEFAULT_ALPHA, DEFAULT_RESAMPLES, DEFAULT_SEED, compare_paired, mean_interval

BETTER, WORSE = "▲", "▼"


@dataclass
class Intervals:
    """Per (run name, key) — key a task, or task[bucket] for LongBench-E rows — its interval and its mark."""

    alpha: float
    ci: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    marks: dict[tuple[str, str], str] = field(default_factory=dict)
    baseline: str | None = None
    notes: list[str] = field(default_factory=list)

    def cell(self, run: str, key: str) -> str:
        """The text after a score: ' [low, high]' and a mark, or '' when the run has no records for it."""
        interval = self.ci.get((run, key))
        text = f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval is not None else ""
        return text + (f" {self.marks[(run, key)]}" if (run, key) in self.marks else "")

    def legend(self) -> str:
        level = round(100 * (1 - self.alpha))
        text = (f"[low, high] = {level}% bootstrap interval of the score (records resampled, "
                f"{DEFAULT_RESAMPLES:,} times, seed {DEFAULT_SEED}).")
        if self.baseline is not None:
            text += (f" {BETTER}/{WORSE} = higher/lower than baseline '{self.baseline}' by a paired test significant "
                     f"at {self.alpha:g} after Holm over the run's tasks (see `longeval compare`).")
        return " ".join([text, *self.notes])


def _records(run: RunResult, tasks: list[str] | None) -> RunRecords | None:
    if run.is_reference or run.pred_dir is None or not Path(run.pred_dir).is_dir():
        return None
    try:
        records = read_run(Path(run.pred_dir), tasks)
    except UserError:
        return None
    records.name = run.name
    return records


def compute_intervals(runs: list[RunResult], tasks: list[str] | None, baseline: str | None,
                      alpha: float = DEFAULT_ALPHA) -> Intervals:
    """Intervals for every measured run with prediction files; marks against `baseline` (a run name) if given."""
    out = Intervals(alpha=alpha)
    records = {run.name: _records(run, tasks) for run in runs}
    without = [run.name for run in runs if records[run.name] is None]
    for name, found in records.items():
        if found is None:
            continue
        for key, entry in found.entries.items():
            out.ci[(name, key)] = mean_interval(entry.scores, alpha=alpha, key=key)
    if any(run.is_reference for run in runs):
        out.notes.append("Published rows have no records, so no interval.")
    measured_without = [name for name in without if not any(r.name == name and r.is_reference for r in runs)]
    if measured_without:
        out.notes.append(f"No prediction files, so no interval: {', '.join(measured_without)}.")
    base = records.get(baseline) if baseline is not None else None
    if base is None:
        return out
    out.baseline = baseline
    for name, found in records.items():
        if found is None or name == baseline:
            continue
        try:
            pairs = pair_runs(base, found)
        except UserError as exc:
            out.notes.append(f"{name}: not marked ({exc}).")
            continue
        comparison = compare_paired({key: (p.base, p.candidate, p.binary) for key, p in pairs.items()},
                                    alpha=alpha)
        for key, stats in comparison.tasks.items():
            if comparison.p_holm[key] < alpha:
                out.marks[(name, key)] = BETTER if stats.delta > 0 else WORSE
    return out
