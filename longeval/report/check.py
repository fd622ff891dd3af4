"""The CI gate: compare one run with a baseline and decide whether scores regressed beyond the allowed drops.

Both macros are taken over the tasks the two runs have in common, so a run with more (or fewer) tasks is not
judged on a different mean. A task the baseline has and the run lacks fails the gate unless allowed: a task that
silently disappears from an evaluation is a regression of its own.

Scores are only comparable over the same records: a partial run, a `--limit` run, or one made on other data is
refused (unusable input, exit 2) with the reason, unless the caller allows it (`--allow-partial`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from longeval.errors import UserError
from longeval.report.collect import RunResult
from longeval.report.table import column_label, task_order

EPSILON = 1e-9  # scores are 2-decimal numbers; a drop of exactly the allowance passes despite float noise


@dataclass(frozen=True)
class EntryDelta:
    key: str  # task, or task[bucket] for LongBench-E
    baseline: float
    current: float

    @property
    def delta(self) -> float:
        return self.current - self.baseline


@dataclass
class CheckResult:
    current: RunResult
    baseline: RunResult
    entries: list[EntryDelta]
    max_drop: float
    max_task_drop: float | None
    missing: list[str] = field(default_factory=list)  # the baseline has them, the run does not
    extra: list[str] = field(default_factory=list)  # the run has them, the baseline does not
    allow_missing: bool = False
    unlike: list[str] = field(default_factory=list)  # why the record sets differ (compared anyway: allowed)

    @property
    def macro_baseline(self) -> float:
        return sum(e.baseline for e in self.entries) / len(self.entries)

    @property
    def macro_current(self) -> float:
        return sum(e.current for e in self.entries) / len(self.entries)

    @property
    def macro_delta(self) -> float:
        return self.macro_current - self.macro_baseline

    @property
    def macro_failed(self) -> bool:
        return -self.macro_delta > self.max_drop + EPSILON

    def task_failed(self, entry: EntryDelta) -> bool:
        return self.max_task_drop is not None and -entry.delta > self.max_task_drop + EPSILON

    @property
    def failures(self) -> list[str]:
        reasons = []
        if self.macro_failed:
            reasons.append(f"macro dropped {-self.macro_delta:.2f} points (allowed {self.max_drop:g})")
        failed = [e for e in self.entries if self.task_failed(e)]
        if failed:
            reasons.append(f"{len(failed)} task(s) dropped more than {self.max_task_drop:g} points: "
                           + ", ".join(_label(e.key) for e in failed))
        if self.missing and not self.allow_missing:
            reasons.append(f"{len(self.missing)} baseline task(s) missing from the run: "
                           + ", ".join(_label(k) for k in self.missing))
        return reasons

    @property
    def passed(self) -> bool:
        return not self.failures


def _order(keys: set[str]) -> list[str]:
    """Report order for flat keys: tasks in table order, LongBench-E buckets after their task."""
    by_task: dict[str, list[str]] = {}
    for key in keys:
        by_task.setdefault(key.split("[", 1)[0], []).append(key)
    return [key for task in task_order(by_task) for key in sorted(by_task[task])]


def _label(key: str) -> str:
    task, _, bucket = key.partition("[")
    return column_label(task) + (f"[{bucket}" if bucket else "")


def check_allowance(value: float | None, option: str) -> None:
    """An allowance that is NaN (every comparison false), infinite or negative would disarm or break the gate."""
    if value is not None and (not math.isfinite(value) or value < 0):
        raise UserError(f"{option} must be a finite number of points >= 0, got {value:g}")


def record_set_differences(current: RunResult, baseline: RunResult, tasks: list[str]) -> list[str]:
    """Why the two runs' scores on `tasks` were not computed on the same records (empty: no known difference)."""
    reasons = []
    for run, role in ((current, "run"), (baseline, "baseline")):
        if run.status == "partial":
            reasons.append(f"the {role} '{run.name}' is partial (not every record was predicted)")
    unknown = False
    for task in tasks:
        now, before = current.record_set(task), baseline.record_set(task)
        if now is None or before is None:
            unknown = True
            continue
        if now.count != before.count:
            reasons.append(f"{task}: the run scored {now.count} records, the baseline {before.count}")
        elif now.ids is not None and before.ids is not None and now.ids != before.ids:
            reasons.append(f"{task}: other records ({len(now.ids - before.ids)} of {now.count} are not the "
                           "baseline's)")
        elif now.digest is not None and before.digest is not None and now.digest != before.digest:
            reasons.append(f"{task}: other records (their _ids digest differs from the baseline's)")
    if unknown and current.limit != baseline.limit:  # no prediction files to count: the limits must agree
        reasons.append(f"the run was limited to {_limit(current.limit)}, the baseline to {_limit(baseline.limit)}")
    for name in sorted(set(current.data_files) & set(baseline.data_files)):
        if name.rsplit(".", 1)[0].removesuffix("_e") in tasks and \
                current.data_files[name] != baseline.data_files[name]:
            reasons.append(f"{name}: other data (its sha256 differs between the two runs)")
    return reasons


def unverifiable(current: RunResult, baseline: RunResult) -> list[str]:
    """What the gate cannot check about the records behind the scores (said, not silently passed over)."""
    return [run.unverifiable for run in (current, baseline) if run.unverifiable]


def _limit(limit: int | None) -> str:
    return "all records" if limit is None else f"the first {limit} records per task"


def compare(current: RunResult, baseline: RunResult, *, max_drop: float, max_task_drop: float | None,
            allow_missing: bool = False, allow_partial: bool = False) -> CheckResult:
    check_allowance(max_drop, "--max-drop")
    check_allowance(max_task_drop, "--max-task-drop")
    now, before = current.entries(), baseline.entries()
    common = set(now) & set(before)
    if not common:
        raise UserError(f"run '{current.name}' and baseline '{baseline.name}' have no task in common "
                        f"(run: {', '.join(_order(set(now))) or 'none'}; baseline: "
                        f"{', '.join(_order(set(before))) or 'none'})")
    entries = [EntryDelta(key, before[key], now[key]) for key in _order(common)]
    unlike = record_set_differences(current, baseline, list(dict.fromkeys(k.split("[", 1)[0] for k in common)))
    if unlike and not allow_partial:
        raise UserError(f"run '{current.name}' and baseline '{baseline.name}' were not scored on the same records, "
                        f"so their scores do not compare: {'; '.join(unlike)} (--allow-partial compares them "
                        "anyway)")
    return CheckResult(current, baseline, entries, max_drop, max_task_drop,
                       missing=_order(set(before) - set(now)), extra=_order(set(now) - set(before)),
                       allow_missing=allow_missing, unlike=unlike)


def summary_markdown(result: CheckResult) -> str:
    """What a person (or a GitHub job summary) needs: verdict, macro, each task with its change."""
    verdict = "PASS" if result.passed else "FAIL"
    lines = [f"### longeval check: {verdict} — `{result.current.name}` vs baseline `{result.baseline.name}`", ""]
    task_rule = f"{result.max_task_drop:g}" if result.max_task_drop is not None else "not checked"
    lines.append(f"Macro over the {len(result.entries)} common task(s): {result.macro_baseline:.2f} → "
                 f"{result.macro_current:.2f} ({result.macro_delta:+.2f} points). "
                 f"Allowed drop: macro {result.max_drop:g}, per task {task_rule}.")
    if result.unlike:
        lines += ["", "Note: compared although not scored on the same records (--allow-partial):"]
        lines += [f"- {reason}" for reason in result.unlike]
    lines += ["", "| Task | Baseline | Run | Change | |", "|---|---:|---:|---:|---|"]
    for entry in result.entries:
        mark = "FAIL" if result.task_failed(entry) else ("better" if entry.delta > EPSILON else "ok")
        lines.append(f"| {_label(entry.key)} | {entry.baseline:.2f} | {entry.current:.2f} | {entry.delta:+.2f} "
                     f"| {mark} |")
    mark = "FAIL" if result.macro_failed else "ok"
    lines.append(f"| **macro** | {result.macro_baseline:.2f} | {result.macro_current:.2f} | "
                 f"{result.macro_delta:+.2f} | {mark} |")
    if result.missing:
        lines += ["", ("Missing from the run (allowed): " if result.allow_missing else "Missing from the run: ")
                  + ", ".join(_label(k) for k in result.missing)]
    if result.extra:
        lines += ["", "Not in the baseline (not compared): " + ", ".join(_label(k) for k in result.extra)]
    if result.failures:
        lines += ["", "Failed because:"] + [f"- {reason}" for reason in result.failures]
    return "\n".join(lines) + "\n"
