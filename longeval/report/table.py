"""Runs -> one pandas table: a row per run, a column per task (paper order), category averages and the macro.

Averages are taken over the tasks a row has and always carry their coverage (count of tasks present / tasks in
the group), because a mean over fewer tasks is a different number, not a worse one. Missing scores stay NaN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from longeval.benchmarks import benchmark_of, result_buckets
from longeval.errors import UserError
from longeval.report.collect import META_COLUMNS, RECORD_COLUMNS, RunResult, record_columns
from longeval.tasks import all_tasks

SORT_FIELDS = ("run", "model", "method", "max_length", "macro")


@dataclass(frozen=True)
class Group:
    """An average column: a LongBench category, or the macro over every task column."""

    key: str  # column in the frame: "avg:<category>" or "macro"
    label: str  # what a reader sees
    tasks: tuple[str, ...]


@dataclass
class Leaderboard:
    frame: pd.DataFrame  # META columns, task columns, then per group: key, key:count, key:total
    tasks: list[str]
    groups: list[Group]
    kind: Literal["main", "e"]


def task_order(names: Iterable[str]) -> list[str]:
    """The registry's report order (the suites' first listing: the paper's 12 tasks in its column order, then the
    other LongBench tasks, ...), then unknown ones by name."""
    names = set(names)
    known = list(all_tasks())
    return [t for t in known if t in names] + sorted(names - set(known))


def column_label(task: str) -> str:
    """The paper's short name (NQA, QAPR, ...) where it has one, else the task name."""
    found = all_tasks().get(task)
    return found.short_name if found is not None and found.short_name else task


def groups_for(tasks: list[str]) -> list[Group]:
    categories: dict[str, list[str]] = {}
    for task in all_tasks().values():  # category order as the registry (the suites) first lists them
        if task.category:
            categories.setdefault(task.category, [])
    for name in tasks:
        if name in all_tasks() and all_tasks()[name].category:
            categories[all_tasks()[name].category].append(name)
    groups = [Group(f"avg:{cat}", cat, tuple(members)) for cat, members in categories.items() if members]
    groups.append(Group("macro", "macro", tuple(tasks)))
    return groups


def _row(run: RunResult, scores: dict[str, float], tasks: list[str], groups: list[Group],
         bucket: str | None) -> dict[str, object]:
    row: dict[str, object] = {"run": run.name, "model": run.model, "method": run.method,
                              "max_length": run.max_length, "source": run.source, "status": run.status,
                              "limit": run.limit, "bucket": bucket, **record_columns(run)}
    for task in tasks:
        row[task] = scores.get(task, float("nan"))
    for group in groups:
        present = [scores[t] for t in group.tasks if t in scores]
        row[group.key] = sum(present) / len(present) if present else float("nan")
        row[f"{group.key}:count"] = len(present)
        row[f"{group.key}:total"] = len(group.tasks)
    return row


def _frame(rows: list[dict[str, object]], tasks: list[str], groups: list[Group]) -> pd.DataFrame:
    columns = [*META_COLUMNS, *RECORD_COLUMNS, *tasks]
    for group in groups:
        columns += [group.key, f"{group.key}:count", f"{group.key}:total"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["max_length"] = frame["max_length"].astype("Int64")
    frame["limit"] = frame["limit"].astype("Int64")
    return frame


def build_leaderboard(runs: list[RunResult], tasks: list[str] | None = None) -> Leaderboard:
    """The main table over runs that have plain task scores (LongBench-E runs go to the bucket table)."""
    runs = [run for run in runs if run.scores]
    columns = task_order(tasks if tasks is not None else (t for run in runs for t in run.scores))
    groups = groups_for(columns)
    rows = [_row(run, run.scores, columns, groups, None) for run in runs]
    return Leaderboard(_frame(rows, columns, groups), columns, groups, "main")


def _declared_buckets(tasks: Iterable[str]) -> list[str]:
    """The buckets the families of these tasks declare (every known bucket for a task no family claims)."""
    known = all_tasks()
    declared = {bucket for task in tasks
                for bucket in (benchmark_of(known[task]).result_buckets if task in known else result_buckets())}
    return [bucket for bucket in result_buckets() if bucket in declared]


def build_bucket_leaderboard(runs: list[RunResult], tasks: list[str] | None = None) -> Leaderboard:
    """A row per (run, bucket) for tasks whose result.json entries hold buckets (LongBench-E: length buckets), the
    same columns and averages as the main table."""
    runs = [run for run in runs if run.buckets]
    columns = task_order(tasks if tasks is not None else (t for run in runs for t in run.buckets))
    groups = groups_for(columns)
    rows = []
    for run in runs:
        for bucket in _declared_buckets(run.buckets):
            scores = {task: by[bucket] for task, by in run.buckets.items() if bucket in by}
            rows.append(_row(run, scores, columns, groups, bucket))
    return Leaderboard(_frame(rows, columns, groups), columns, groups, "e")


def sort_runs(runs: list[RunResult], by: list[str], tasks: list[str] | None = None) -> list[RunResult]:
    """Order rows by the given fields (stable; missing values last; macro, over `tasks` if given, highest first)."""
    for name in by:
        if name not in SORT_FIELDS:
            raise UserError(f"cannot sort by '{name}' (choose from {', '.join(SORT_FIELDS)})", field="--by")
    ordered = list(runs)
    for name in reversed(by):
        if name == "macro":
            def macro_key(run: RunResult) -> tuple[bool, float]:
                values = [v for t, v in run.scores.items() if tasks is None or t in tasks]
                return (not values, -(sum(values) / len(values)) if values else 0.0)
            ordered.sort(key=macro_key)
        else:
            def field_key(run: RunResult, name: str = name) -> tuple[bool, Any]:
                value = getattr(run, name)
                return (value is None, value if value is not None else "")
            ordered.sort(key=field_key)
    return ordered
