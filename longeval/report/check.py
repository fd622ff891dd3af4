"""The CI gate: compare one run with a baseline and decide whether scores regressed beyond the allowed drops.

Both macros are taken over the tasks the two runs have in common, so a run with more (or fewer) tasks is not
judged on a different mean. A task the baseline has and the run lacks fails the gate unless allowed: a task that
silently disappears from an evaluation is a regression of its own.

Scores are only comparable over the same records: a partial run, a `--limit` run, or one made on other data is
refused (unusable input, exit 2) with the reason, unless the caller allows it (`--allow-partial`).

With `significance` (`--significance ALPHA`, report/significance.py) a drop beyond the allowance fails only when
the paired test rejects too; the drops it lets pass are listed as noise, never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from longeval.errors import UserError
from longeval.report.collect import RunResult
from longeval.report.table import column_label, task_order

if TYPE_CHECKING:
    from longeval.report.significance import Significance

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
    significance: Significance | None = None  # --significance: a drop fails only if the paired test rejects

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
    def macro_dropped(self) -> bool:
        return -self.macro_delta > self.max_drop + EPSILON

    def task_dropped(self, entry: EntryDelta) -> bool:
        return self.max_task_drop is not None and -entry.delta > self.max_task_drop + EPSILON

    @property
    def macro_failed(self) -> bool:
        return self.macro_dropped and (self.significance is None or self.significance.macro_significant)

    def task_failed(self, entry: EntryDelta) -> bool:
        return self.task_dropped(entry) and (self.significance is None
                                             or self.significance.task_significant(entry.key))

    @property
    def noise(self) -> list[str]:
        """Drops beyond the allowance that the paired test did not confirm (--significance): passed, and said."""
        if self.significance is None:
            return []
        keys = [e.key for e in self.entries if self.task_dropped(e) and not self.task_failed(e)]
        return keys + (["macro"] if self.macro_dropped and not self.macro_failed else [])

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
            allow_missing: bool = False, allow_partial: bool = False,
            significance: float | None = None) -> CheckResult:
    """The gate's verdict; `significance` (a level ALPHA) adds the paired test to every drop beyond an allowance."""
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
    paired = None
    if significance is not None:
        from longeval.report.significance import paired_significance

        paired = paired_significance(current, baseline, [entry.key for entry in entries], significance)
    return CheckResult(current, baseline, entries, max_drop, max_task_drop,
                       missing=_order(set(before) - set(now)), extra=_order(set(now) - set(before)),
                       allow_missing=allow_missing, unlike=unlike, significance=paired)


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
    significance = result.significance
    if significance is None:
        lines += ["", "| Task | Baseline | Run | Change | |", "|---|---:|---:|---:|---|"]
    else:
        lines += ["", "| Task | Baseline | Run | Change | 95% CI | p (Holm) | |", "|---|---:|---:|---:|---:|---:|---|"]
        level = round(100 * (1 - significance.alpha))
        if level != 95:
            lines[-2] = lines[-2].replace("95% CI", f"{level}% CI")
    noise = set(result.noise)
    for entry in result.entries:
        mark = "FAIL" if result.task_failed(entry) else ("better" if entry.delta > EPSILON else "ok")
        mark = "noise" if entry.key in noise else mark
        stats = ""
        if significance is not None:
            task = significance.comparison.tasks[entry.key]
            stats = (f"[{task.ci_low:+.2f}, {task.ci_high:+.2f}] | {significance.comparison.p_holm[entry.key]:.4f} "
                     "| ")
        lines.append(f"| {_label(entry.key)} | {entry.baseline:.2f} | {entry.current:.2f} | {entry.delta:+.2f} "
                     f"| {stats}{mark} |")
    mark = "FAIL" if result.macro_failed else ("noise" if "macro" in noise else "ok")
    stats = ""
    if significance is not None:
        macro = significance.comparison.macro
        stats = f"[{macro.ci_low:+.2f}, {macro.ci_high:+.2f}] | {macro.p:.4f} (own) | "
    lines.append(f"| **macro** | {result.macro_baseline:.2f} | {result.macro_current:.2f} | "
                 f"{result.macro_delta:+.2f} | {stats}{mark} |")
    if significance is not None:
        lines += ["", f"Significance: a drop beyond the allowance fails only if the paired test rejects at "
                  f"{significance.alpha:g} (p per task Holm-adjusted over the {len(result.entries)} task(s); macro "
                  f"by stratified sign flips); CI = paired bootstrap interval of the change."]
        if noise:
            lines.append("Ignored as noise (dropped beyond the allowance, not significant): "
                         + ", ".join("macro" if key == "macro" else _label(key) for key in result.noise) + ".")
    if result.missing:
        lines += ["", ("Missing from the run (allowed): " if result.allow_missing else "Missing from the run: ")
                  + ", ".join(_label(k) for k in result.missing)]
    if result.extra:
        lines += ["", "Not in the baseline (not compared): " + ", ".join(_label(k) for k in result.extra)]
    if result.failures:
        lines += ["", "Failed because:"] + [f"- {reason}" for reason in result.failures]
    return "\n".join(lines) + "\n"
