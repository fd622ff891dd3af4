"""A grid of runs: models x methods x max lengths, one ordinary run per cell, in this process or as Ray tasks.

A cell is exactly the run `longeval run` makes for one model, method and length: the same run folder, resumed
the same way, so a grid stopped half-way is finished by giving the same command again (or by running any cell on
its own). A cell that fails is reported in the summary and does not stop the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.backends.build import backend_class
from longeval.errors import UserError
from longeval.runner import RunOutcome, RunRequest
from longeval.runs.record import RunRecord


@dataclass
class CellOutcome:
    """How one cell ended: its run folder and counts, or the error that stopped it."""

    request: RunRequest
    status: str  # complete | partial | failed
    folder: Path | None = None
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    record: RunRecord | None = None  # run.json as the run left it
    error: str | None = None
    user_error: bool = False  # the error is bad input (exit 2), not a crash (exit 1)
    seconds: float = 0.0


def split_list(text: str | None, flag: str) -> list[str | None]:
    """'a,b' -> ['a', 'b']; None -> [None] (the flag's default)."""
    if text is None:
        return [None]
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise UserError(f"{flag} takes values separated by commas, got '{text}'")
    return list(parts)


def plan_cells(base: RunRequest, models: Sequence[str], methods: Sequence[str | None],
               lengths: Sequence[int | None]) -> list[RunRequest]:
    """One request per (model, method, length), in that nesting order (a model's cells run back to back).

    With --run-name and more than one cell, the name is a prefix followed by what varies between cells.
    """
    for flag, values in (("--model", models), ("--method", methods), ("--max-length", lengths)):
        repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
        if repeated:
            raise UserError(f"{flag} names {', '.join(repeated)} more than once")
    cells = []
    for model in models:
        for method in methods:
            for length in lengths:
                name = base.run_name
                if name and len(models) * len(methods) * len(lengths) > 1:
                    parts = [name]
                    if len(models) > 1:
                        parts.append(Path(model).name)
                    if len(methods) > 1:
                        parts.append(str(method))
                    if len(lengths) > 1:
                        parts.append(str(length))
                    name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", "_".join(parts).replace(":", "-"))
                cells.append(dataclasses.replace(base, model=model, method=method, max_length=length, run_name=name))
    names = [cell.run_name for cell in cells if cell.run_name]
    clash = sorted({name for name in names if names.count(name) > 1})
    if clash:  # e.g. exp1/model and exp2/model under one --run-name prefix
        raise UserError(f"grid cells would share the run folder {clash[0]}; leave --run-name out (default names "
                        "tell such models apart) or give the models distinct folder names")
    return cells


def check_cells(cells: Sequence[RunRequest]) -> None:
    """What can be refused for every cell before any engine starts: model folders and method specs."""
    from longeval.gguf import find_gguf
    from longeval.hub import HUB_ID
    from longeval.methods import parse_method
    from longeval.runner import read_model_config

    for model in dict.fromkeys(cell.model for cell in cells):
        # A GGUF file (or a folder holding one) is checked when its first cell converts it, as one run does; a
        # hub id when its first cell fetches it. Only an ordinary checkpoint folder can be read here.
        local = Path(model).expanduser().exists() or not HUB_ID.match(model) or model.startswith((".", "/", "~"))
        if local and find_gguf(model) is None:
            read_model_config(model)
    for spec in dict.fromkeys(cell.method for cell in cells):
        if spec is not None:
            parse_method(spec)


def absolute(cell: RunRequest) -> RunRequest:
    """Paths a worker on another node (or in another working folder) reads the same way: absolute ones."""
    data = cell.data if cell.data == "hub" or not Path(cell.data).exists() else str(Path(cell.data).resolve())
    model = str(Path(cell.model).resolve()) if Path(cell.model).exists() else cell.model
    return dataclasses.replace(cell, model=model, data=data, out=Path(cell.out).resolve())


def run_cell(request: RunRequest, on_event: Callable[[str], None] = print) -> CellOutcome:
    """Run one cell; an error becomes the outcome instead of ending the grid."""
    from longeval.runner import run

    started = time.perf_counter()
    try:
        outcome = run(request, on_event=on_event)
    except Exception as exc:  # noqa: BLE001 - a failing cell is reported, the others go on
        return failed(request, exc, time.perf_counter() - started)
    return finished(request, outcome, time.perf_counter() - started)


def failed(request: RunRequest, exc: Exception, seconds: float) -> CellOutcome:
    if isinstance(exc, UserError):
        return CellOutcome(request, "failed", error=str(exc), user_error=True, seconds=seconds)
    return CellOutcome(request, "failed", error=f"{type(exc).__name__}: {error_summary(exc)}", seconds=seconds)


def finished(request: RunRequest, outcome: RunOutcome, seconds: float) -> CellOutcome:
    record = outcome.record
    counts = record.records.values()
    return CellOutcome(request, record.status or "partial", folder=outcome.folder,
                       done=sum(c.done for c in counts), total=sum(c.total for c in counts),
                       result=outcome.result, record=record, seconds=seconds)


def cell_label(request: RunRequest) -> str:
    """A cell's name before its run folder is known (a cell can fail before the runner names it)."""
    return request.run_name or (f"{Path(request.model).name} method={request.method or '(checkpoint)'} "
                                f"max-length={request.max_length or 'auto'}")


def error_summary(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_sequential(cells: Sequence[RunRequest], on_outcome: Callable[[CellOutcome], None]) -> list[CellOutcome]:
    """The cells in order; the lengths of one model and method run as one sweep that shares its engine.

    When a sweep stops on an error, the cells it finished are kept and the rest run one by one, so the error is
    reported for the cell it belongs to and the other cells still run.
    """
    from longeval.runner import run_sweep

    outcomes: list[CellOutcome] = []
    groups: list[list[RunRequest]] = []
    for cell in cells:
        if groups and (groups[-1][0].model, groups[-1][0].method) == (cell.model, cell.method):
            groups[-1].append(cell)
        else:
            groups.append([cell])
    for group in groups:
        done: list[CellOutcome] = []
        clock = [time.perf_counter()]

        def keep(result: Any, group: list[RunRequest] = group, done: list[CellOutcome] = done,
                 clock: list[float] = clock) -> None:
            done.append(finished(group[len(done)], result, time.perf_counter() - clock[0]))
            clock[0] = time.perf_counter()
            on_outcome(done[-1])

        if len(group) > 1:
            with contextlib.suppress(Exception):  # the cells left run alone below, each reporting its own error
                run_sweep(group, on_result=keep)
        outcomes += done
        for cell in group[len(done):]:
            outcomes.append(run_cell(cell))
            on_outcome(outcomes[-1])
    return outcomes


def run_on_ray(cells: Sequence[RunRequest], address: str | None,
               on_outcome: Callable[[CellOutcome], None]) -> list[CellOutcome]:
    """Every cell as a Ray task asking for its engine's GPUs; outcomes reported as cells finish."""
    from longeval.raycluster import connected, gpus_per_engine, runtime_env

    cells = [absolute(cell) for cell in cells]
    with connected(address) as ray:
        task = ray.remote(run_cell)
        pending = {}
        for cell in cells:
            options = cell.backend_options
            # With data parallelism the cell's engines are actors that ask for the GPUs; the cell itself needs none.
            gpus = 0 if (options.get("data_parallel_size") or 1) > 1 else gpus_per_engine(ray, options)
            if not backend_class(cell.backend).local_engine:  # a served model or the echo engine: no local GPU
                gpus = 0
            ref = task.options(num_gpus=gpus, max_retries=0, runtime_env=runtime_env()).remote(
                dataclasses.replace(cell, progress=False))
            pending[ref] = cell
        outcomes: dict[int, CellOutcome] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                cell = pending.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except Exception as exc:  # noqa: BLE001 - the worker died (out of memory, a signal): report it
                    outcome = CellOutcome(cell, "failed", error=f"{type(exc).__name__}: {error_summary(exc)}")
                outcomes[cells.index(cell)] = outcome
                on_outcome(outcome)
        except BaseException:
            # Interrupted (Ctrl-C): stop the cells still running on the cluster; what they wrote is kept.
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    return [outcomes[index] for index in range(len(cells))]


# ----------------------------------------------------------------------------------------------------- summary

def summary_table(outcomes: Sequence[CellOutcome]) -> str:
    """One line per cell: run folder, model, method, length, status, predictions, minutes, error."""
    header = ("run", "model", "method", "max length", "status", "predictions", "seconds", "error")
    rows = []
    for o in outcomes:
        name = o.folder.name if o.folder else (o.request.run_name or "-")
        rows.append((name, Path(o.request.model).name, o.request.method or "(checkpoint)",
                     str(o.request.max_length or "auto"), o.status,
                     f"{o.done}/{o.total}" if o.status != "failed" else "-", f"{o.seconds:.0f}", o.error or ""))
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header) - 1)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  " + header[-1]]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def exit_code(outcomes: Sequence[CellOutcome]) -> int:
    """0: every cell ran; 2: the failures are all bad input; 1: a cell crashed."""
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return 0
    return 2 if all(o.user_error for o in failed) else 1
