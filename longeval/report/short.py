"""The short-context check (checklist item 3 of arXiv 2401.07004): does extension keep what the base model did
on short inputs?

Rows: each run's short-context scores as its tasks' families define them (`short_context_scores`: LongBench-E's
0-4k bucket, inputs inside a 4k original window; passkey runs made inside the original window, e.g.
--max-length 3500 for a 4k model), then, for every other run, its difference to the baseline (the base
checkpoint's run) task by task. A method that keeps short-context ability shows differences near 0.
"""

from __future__ import annotations

from longeval.benchmarks import all_benchmarks
from longeval.errors import UserError
from longeval.report.collect import RunResult


def _labels() -> str:
    return " or ".join(unit.short_context_label for unit in all_benchmarks().values() if unit.short_context_label)


def title() -> str:
    """The view's heading, naming what each family contributes."""
    return f"Short-context check: {_labels()}, and each run's difference to the baseline"


def short_rows(runs: list[RunResult]) -> list[RunResult]:
    """One row per run with short-context scores (other runs are left out)."""
    rows = []
    for run in runs:
        scores: dict[str, float] = {}
        for unit in all_benchmarks().values():
            scores.update(unit.short_context_scores(run))
        if scores:
            rows.append(RunResult(name=run.name, scores=scores, model=run.model, method=run.method,
                                  max_length=run.max_length, status=run.status, limit=run.limit, path=run.path))
    return rows


def delta_rows(rows: list[RunResult], baseline: str | None) -> list[RunResult]:
    """run - baseline on the tasks both have, for every run but the baseline (default baseline: the first row)."""
    if not rows:
        raise UserError(f"no run has {_labels()} (run a suite that has them first)")
    names = [row.name for row in rows]
    base_name = baseline or names[0]
    if base_name not in names:
        raise UserError(f"baseline '{base_name}' has no {_labels()} (runs with them: {', '.join(names)})",
                        field="--baseline")
    base = rows[names.index(base_name)]
    deltas = []
    for row in rows:
        if row.name == base_name:
            continue
        shared = [task for task in row.scores if task in base.scores]
        deltas.append(RunResult(name=f"{row.name} − {base_name}",
                                scores={task: row.scores[task] - base.scores[task] for task in shared},
                                model=row.model, method=row.method, max_length=row.max_length))
    return deltas
