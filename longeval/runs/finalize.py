"""The end of a session: score the pred files (result.json), settle run.json's counts, timing and status."""

from __future__ import annotations

import time
from typing import Any

from longeval.runs.folder import RunFolder, RunFolderView
from longeval.runs.record import RunRecord
from longeval.runs.timer import Timer, now_iso


def settle(record: RunRecord, folder: RunFolder, totals: dict[str, int], timer: Timer,
           previous_timing: dict[str, float], status: str = "partial") -> None:
    """Counts from the pred files, timing over every session, tokens/s over the engine's time; then save."""
    folder.fill_counts(record, totals)
    this_session = {k: round(previous_timing.get(k, 0.0) + v, 4) for k, v in timer.seconds.items()}
    record.timing = {**previous_timing, **this_session}
    engine_s = record.timing.get("generate", 0.0)
    record.tokens_per_second = round(record.tokens.generated / engine_s, 2) if engine_s > 0 else None
    record.status = status
    folder.save(record)


def keep_record_scores(folder: RunFolder, task_names: list[str]) -> None:
    """record_scores.json: each pred file's per-record scores, so compare / report --ci / check --significance do not
    recompute the metrics (see runs/record_scores.py)."""
    from longeval.benchmarks import benchmark_of
    from longeval.runs import record_scores
    from longeval.tasks import all_tasks

    entries = {}
    for name in task_names:
        task = all_tasks().get(name)
        if task is None:
            continue
        unit = benchmark_of(task)
        stem = unit.pred_file_stem(task)
        path = folder.pred_dir / f"{stem}.jsonl"
        if path.is_file():
            lines = unit.read_predictions(task, path)
            entries[stem] = record_scores.file_entry(task.name, path, unit.record_ids(task, lines),
                                                     unit.record_scores(task, lines))
    record_scores.write(RunFolderView(folder.path).record_scores, entries)


def finalize(record: RunRecord, folder: RunFolder, totals: dict[str, int], timer: Timer,
             previous_timing: dict[str, float], wall_started: float) -> dict[str, Any]:
    """Score the folder (official eval.py rules) and mark the run complete when every selected record is done."""
    from longeval.scoring import score_tasks, write_result

    started = time.perf_counter()
    result = score_tasks(folder.pred_dir, record.tasks)
    write_result(folder.pred_dir, result)
    keep_record_scores(folder, record.tasks)
    timer.add("score", started)
    timer.seconds["total"] = time.perf_counter() - wall_started
    record.finished = now_iso()
    folder.fill_counts(record, totals)
    settle(record, folder, totals, timer, previous_timing, "complete" if record.complete else "partial")
    return result
