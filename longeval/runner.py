"""One evaluation run: prompts -> engine -> pred/<task>.jsonl (durable, resumable) -> result.json + run.json.

The stages live in `longeval.runs` (inputs -> plan -> folder -> execute -> finalize); `run` strings them together.
A run folder belongs to one set of settings and one checkpoint's weights (its fingerprint, kept in run.json):
re-running the same command resumes it, skipping the `_id`s already in pred/, and a command with other settings
is refused rather than mixing two configurations in one score. One process writes a folder at a time (an OS lock).
Each write unit is appended with flush + fsync, so `kill -9` loses at most the unit in flight; a torn last line
left by the kill is dropped on resume, and run.json's counts are recomputed from what the pred files hold.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.benchmarks import benchmark_of
from longeval.prompts import WRAPPER_LABELS, generation_params
from longeval.runs.engines import Engines, engine_key
from longeval.runs.execute import batches_by_length, execute, pending_prompts, recount_unledgered
from longeval.runs.folder import (
    PRED_FIELDS,
    RunFolder,
    append_durably,
    check_same_server,
    check_same_settings,
    check_selection,
    check_task_versions,
    has_predictions,
    read_finished,
)
from longeval.runs.inputs import RunInputs, load_inputs, read_model_config, resolve_method
from longeval.runs.plan import (
    RunPlan,
    RunRequest,
    context_window,
    default_run_name,
    engine_length,
    make_plan,
    settings_fingerprint,
)
from longeval.runs.record import RunRecord
from longeval.runs.start import library_versions, start_record
from longeval.runs.timer import Timer

__all__ = [
    "PRED_FIELDS", "RunRequest", "RunOutcome", "append_durably", "batches_by_length", "context_window",
    "default_run_name", "engine_length", "generation_params", "has_predictions", "library_versions",
    "read_finished", "read_model_config", "resolve_method", "run", "settings_fingerprint",
]


@dataclass
class RunOutcome:
    """What one run left: its folder, result.json's content and run.json as written (a typed RunRecord)."""

    folder: Path
    result: dict[str, Any]
    record: RunRecord


def run(request: RunRequest, on_event: Callable[[str], None] = print) -> RunOutcome:
    """Carry out (or resume) one run and score it; returns the run folder, result.json and run.json."""
    return run_sweep([request], on_event)[0]


def run_sweep(requests: Sequence[RunRequest], on_event: Callable[[str], None] = print,
              on_result: Callable[[RunOutcome], None] | None = None) -> list[RunOutcome]:
    """Several runs in order (a length sweep), sharing an engine wherever they can (runs.engines).

    Every run is planned first, so bad input in any of them is refused before an engine starts, and a shared
    engine is built long enough for the longest run.
    """
    prepared = []
    for request in requests:
        started = time.perf_counter()
        timer = Timer()
        inputs, load_seconds = load_inputs(request.model, request.tasks, request.data, request.method,
                                           request.limit, request.chat_template, request.max_length,
                                           request.benchmark_options)
        timer.seconds.update(load_seconds)
        plan = make_plan(request, inputs)
        prepared.append((request, inputs, plan, timer, time.perf_counter() - started))
    engines = Engines()
    for request, inputs, plan, _, _ in prepared:
        engines.reserve(engine_key(request, inputs, plan), plan.engine_length)
    results = []
    try:
        for request, inputs, plan, timer, planning_s in prepared:
            wall = time.perf_counter() - planning_s
            for warning in plan.warnings:
                print(f"longeval run: {warning}", file=sys.stderr)  # stdout holds results a script may read
            folder = RunFolder.open(plan.folder)
            try:
                result = _run_in(folder, request, inputs, plan, timer, wall, on_event, engines)
            except BaseException:
                folder.discard_if_unused()
                raise
            finally:
                folder.close()
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        engines.close()
    return results


def _run_in(folder: RunFolder, request: RunRequest, inputs: RunInputs, plan: RunPlan, timer: Timer, wall: float,
            on_event: Callable[[str], None], engines: Engines) -> RunOutcome:
    previous = folder.previous()
    started = time.perf_counter()
    task_files = {task.name: benchmark_of(task).pred_file_stem(task) for task in inputs.tasks}
    if previous is not None:
        task_files.update({name: _base(name) for name in previous.tasks if name not in task_files})
    finished = folder.load_done(task_files)
    timer.add("write", started)
    if previous is not None:
        check_same_settings(folder.path, previous, plan.settings, plan.fingerprint, inputs.source.file_sha256,
                            inputs.source.prefix_sha256)
        check_task_versions(folder.path, previous, inputs.tasks)
        check_selection(folder.path, finished, inputs.records, request.limit)
    record = start_record(request, inputs, plan, previous)
    previous_timing = dict(previous.timing) if previous else {}
    totals = {task.name: len(inputs.records[task.name]) for task in inputs.tasks}

    low, high = min(plan.budgets.values()), max(plan.budgets.values())
    budget_text = f"{low}" if low == high else f"{low}-{high}"
    # The wrapper wraps only the tasks that declare `chat: true`; a run of completion tasks (passkey) uses none.
    chat_tasks = any(task.chat for task in inputs.tasks)
    wrapper = WRAPPER_LABELS.get(inputs.wrapper, inputs.wrapper) if chat_tasks else "none (its tasks have chat: false)"
    on_event(f"run {plan.run_name}: method {plan.method.spec}, chat wrapper: {wrapper}, window {plan.window}, "
             f"prompt budget {budget_text} tokens -> {folder.path}")

    started = time.perf_counter()
    lost = recount_unledgered(folder, inputs.tasks, inputs.records, inputs.tokenizer, plan.budgets, inputs.wrapper)
    if lost:
        print(f"longeval run: warning: {lost}", file=sys.stderr)
    pending = pending_prompts(inputs.tasks, inputs.records, finished, inputs.tokenizer, plan.budgets, inputs.wrapper)
    timer.add("tokenize", started)

    from longeval.runs.finalize import finalize, settle

    if any(pending.values()):
        backend, reused = engines.get(engine_key(request, inputs, plan), request, inputs, plan, timer)
        check_same_server(folder.path, previous, backend.versions())
        record.versions.update({k: v for k, v in backend.versions().items() if v})
        record.backend.dtype_used = str(getattr(backend, "dtype", request.dtype))
        record.backend.engine_reused = reused
        settle(record, folder, totals, timer, previous_timing)
        execute(backend, folder, inputs.tasks, inputs.records, pending, inputs.tokenizer,
                batch_size=request.batch_size, write_every=request.write_every, timer=timer,
                progress=request.progress, after_write=lambda: settle(record, folder, totals, timer, previous_timing))
    result = finalize(record, folder, totals, timer, previous_timing, wall)
    return RunOutcome(folder=folder.path, result=result, record=record)


def _base(task_name: str) -> str:
    """The pred file stem of a task the folder holds from an earlier session (its family names it)."""
    from longeval.tasks import all_tasks

    task = all_tasks().get(task_name)
    return benchmark_of(task).pred_file_stem(task) if task is not None else task_name
