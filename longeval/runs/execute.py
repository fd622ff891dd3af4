"""The batch loop: pending prompts -> engine batches -> durable-write units in the run folder.

The engine batch (`batch_size`: prompts handed to the backend at once) and the durable-write unit (`write_every`:
predictions made durable together) are separate knobs: an engine may want large batches while a kill should lose
little, or many small batches may share one fsync.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from longeval.backends.base import Backend
from longeval.benchmarks import benchmark_of
from longeval.prompts import Prompt
from longeval.runs.folder import LedgerEntry, RunFolder
from longeval.runs.timer import Timer
from longeval.tasks import Task


def pending_prompts(tasks: Sequence[Task], records: dict[str, list[dict[str, Any]]],
                    finished: dict[str, dict[str, Any]], tokenizer: Any, budgets: dict[str, int],
                    wrapper: str) -> dict[str, list[Prompt]]:
    """The prompts of the records not yet in the pred files (each family's procedure, record by record)."""
    return {task.name: [benchmark_of(task).build_prompt(task, r, tokenizer, budgets[task.name], wrapper)
                        for r in records[task.name] if r["_id"] not in finished[task.name]]
            for task in tasks}


def recount_unledgered(folder: RunFolder, tasks: Sequence[Task], records: dict[str, list[dict[str, Any]]],
                       tokenizer: Any, budgets: dict[str, int], wrapper: str) -> str | None:
    """After the ledger was lost: the prompt tokens and truncation of the predictions it lacked, recomputed by
    building their prompts again (the same procedure gives the same tokens); returns the warning that says what
    cannot be recomputed (the generated tokens: the engine's ids are gone), or None when nothing was missing."""
    for task in tasks:
        ids = folder.unledgered.get(task.name, [])
        by_id = {r["_id"]: r for r in records[task.name]}
        entries = []
        for _id in ids:
            if _id in by_id:
                prompt = benchmark_of(task).build_prompt(task, by_id[_id], tokenizer, budgets[task.name], wrapper)
                entries.append(LedgerEntry(task.name, _id, len(prompt.token_ids), None, prompt.truncated))
        folder.recount(task.name, entries)
    folder.unledgered.clear()
    unknown = folder.unknown_generated()
    if not unknown:
        return None
    return (f"{folder.ledger_path.name} lacks the generated-token counts of {unknown} predictions in pred/ (the "
            "ledger was deleted?): their prompt tokens and truncation are recomputed from their prompts, their "
            "generated tokens cannot be (the engine's token ids are gone), so run.json's tokens.generated leaves "
            "them out")


def batches_by_length(prompts: Sequence[Prompt], size: int) -> Iterator[list[Prompt]]:
    """Longest first (memory trouble shows at once, the ETA errs on the safe side), similar lengths together."""
    ordered = sorted(prompts, key=lambda p: len(p.token_ids), reverse=True)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def execute(backend: Backend, folder: RunFolder, tasks: Sequence[Task], records: dict[str, list[dict[str, Any]]],
            pending: dict[str, list[Prompt]], tokenizer: Any, *, batch_size: int, write_every: int | None,
            timer: Timer, after_write: Callable[[], None], progress: bool = True) -> None:
    """Generate every pending prompt and commit the outputs; `after_write` runs after each durable write."""
    from tqdm import tqdm

    unit = write_every or batch_size
    for task in tasks:
        family = benchmark_of(task)
        by_id = {r["_id"]: r for r in records[task.name]}
        lines: list[dict[str, Any]] = []
        entries: list[LedgerEntry] = []

        total = len(records[task.name])
        with tqdm(total=total, initial=total - len(pending[task.name]), desc=task.name, unit="sample",
                  disable=not progress, dynamic_ncols=True) as bar:
            for batch in batches_by_length(pending[task.name], batch_size):
                # One engine call finishes a whole batch at once: the bar says what is under way meanwhile.
                longest = max(len(p.token_ids) for p in batch)
                bar.set_postfix_str(f"generating {len(batch)} prompt{'s' * (len(batch) > 1)} of up to "
                                    f"{longest:,} tokens", refresh=True)
                started = time.perf_counter()
                batch_records = [by_id[p.id] for p in batch]
                outputs = family.generate(task, backend, batch, batch_records, tokenizer)
                timer.add("generate", started)
                for prompt, record, output in zip(batch, batch_records, outputs, strict=True):
                    lines.append(family.prediction_line(task, record, output))
                    entries.append(LedgerEntry(task.name, record["_id"], len(prompt.token_ids),
                                               len(output.token_ids), prompt.truncated))
                    if len(lines) >= unit:
                        _commit(folder, task, lines, entries, timer, after_write)
                bar.update(len(batch))
            if lines:
                _commit(folder, task, lines, entries, timer, after_write)


def _commit(folder: RunFolder, task: Task, lines: list[dict[str, Any]], entries: list[LedgerEntry], timer: Timer,
            after_write: Callable[[], None]) -> None:
    """One durable-write unit: the buffered predictions reach the disk, run.json follows; the buffers empty."""
    started = time.perf_counter()
    folder.commit(task.name, benchmark_of(task).pred_file_stem(task), lines, entries)
    after_write()
    lines.clear()
    entries.clear()
    timer.add("write", started)
