"""The short-context check (checklist item 3 of arXiv 2401.07004): does extension keep what the base model did
on short inputs?

Rows: each run's LongBench-E scores in the 0-4k bucket (inputs inside a 4k original window) and its passkey
scores (tasks named passkey*: pass runs made inside the original window, e.g. --max-length 3500 for a 4k model),
then, for every other run, its difference to the baseline (the base checkpoint's run) task by task. A method
that keeps short-context ability shows differences near 0.
"""

from __future__ import annotations

from longeval.errors import UserError
from longeval.report.collect import RunResult

SHORT_BUCKET = "0-4k"
TITLE = "Short-context check: LongBench-E 0-4k bucket and passkey, and each run's difference to the baseline"
PASSKEY_PREFIX = "passkey"


def short_rows(runs: list[RunResult]) -> list[RunResult]:
    """One row per run with 0-4k bucket or passkey scores (other runs are left out)."""
    rows = []
    for run in runs:
        scores = {task: by[SHORT_BUCKET] for task, by in run.buckets.items() if SHORT_BUCKET in by}
        scores.update({task: value for task, value in run.scores.items() if task.startswith(PASSKEY_PREFIX)})
        if scores:
            rows.append(RunResult(name=run.name, scores=scores, model=run.model, method=run.method,
                                  max_length=run.max_length, status=run.status, limit=run.limit, path=run.path))
    return rows


def delta_rows(rows: list[RunResult], baseline: str | None) -> list[RunResult]:
    """run - baseline on the tasks both have, for every run but the baseline (default baseline: the first row)."""
    if not rows:
        raise UserError("no run has LongBench-E scores in the 0-4k bucket or passkey scores (run the longbench-e "
                        "suite first)")
    names = [row.name for row in rows]
    base_name = baseline or names[0]
    if base_name not in names:
        raise UserError(f"baseline '{base_name}' has no LongBench-E 0-4k or passkey scores (runs with them: "
                        f"{', '.join(names)})", field="--baseline")
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
