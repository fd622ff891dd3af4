"""What a run will do, decided before anything is written: prompt budgets, the engine's length, the settings
that identify the run (its fingerprint) and its folder name. Pure: the same request and inputs give the same plan.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.backends.base import canonical_dtype
from longeval.backends.options import fingerprinted
from longeval.errors import UserError
from longeval.prompts import JUNCTION_SLACK, prompt_budget
from longeval.runs.inputs import RunInputs, family_settings, run_name_suffix
from longeval.tasks import Task


@dataclass
class RunRequest:
    """What `longeval run` was asked to do, for one max length."""

    model: str
    tasks: str
    data: str
    out: Path
    method: str | None = None  # None: whatever the checkpoint's config carries (an extended checkpoint), else none
    max_length: int | None = None  # prompt budget in tokens; None: the context window minus the task's answer
    backend: str = "hf"
    limit: int | None = None
    run_name: str | None = None
    chat_template: str | None = None  # auto | hf | llama2 | none
    batch_size: int = 16  # prompts per engine call
    write_every: int | None = None  # predictions per durable write (None: each engine batch)
    dtype: str = "auto"
    backend_options: dict[str, Any] = field(default_factory=dict)
    benchmark_options: dict[str, Any] = field(default_factory=dict)  # --option KEY=VALUE of the tasks' families
    progress: bool = True


@dataclass(frozen=True)
class RunPlan:
    run_name: str
    folder: Path
    method: Any  # the Method bound to this run's length (dynamic-ntk's n fixed)
    window: int  # positions the model serves with the method (the default prompt budget's basis)
    budgets: dict[str, int]  # task -> prompt budget (tokens)
    engine_length: int  # the longest sequence (prompt + answer) the engine must hold
    settings: dict[str, Any]  # what must not change within one run folder
    fingerprint: str
    warnings: tuple[str, ...] = ()


def context_window(config: dict[str, Any], method) -> int:
    """Positions the model serves with the method applied (the one engine-length policy, methods/length.py)."""
    from longeval.methods.length import default_length

    return default_length(method, config)


def engine_length(tasks: Sequence[Task], budgets: dict[str, int], overheads: dict[str, int]) -> int:
    """The longest sequence any prompt plus its answer can reach: what the engine must be built to hold."""
    return max(budgets[t.name] + overheads[t.name] + t.max_new_tokens + JUNCTION_SLACK for t in tasks)


def default_run_name(model_dir: Path, method_spec: str, max_length: int | None, suffix: str = "",
                     repo_id: str | None = None) -> str:
    """<model>-<hash of its resolved path>_<method>_<length>: exp1/model and exp2/model get different folders.

    A hub model is named by its repository (not its snapshot folder, which changes with each commit), so a run of
    `org/name` after the branch moved finds its folder and is refused there instead of silently starting anew."""
    resolved = model_dir.resolve()
    where = hashlib.sha256((repo_id or str(resolved)).encode()).hexdigest()[:6]
    stem = repo_id.split("/")[-1] if repo_id else resolved.name
    name = f"{stem}-{where}_{method_spec}_{max_length if max_length else 'auto'}"
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", name.replace(":", "-"))
    return name + suffix  # what the tasks' families add (LongBench-E runs: "_e")


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def make_plan(request: RunRequest, inputs: RunInputs) -> RunPlan:
    """Budgets, engine length, settings and folder of one run (UserError when the model leaves no room)."""
    method = inputs.method
    window = context_window(inputs.config, method)
    budgets: dict[str, int] = {}
    overheads: dict[str, int] = {}
    for task in inputs.tasks:
        budgets[task.name], overheads[task.name] = prompt_budget(task, inputs.tokenizer, inputs.wrapper, window,
                                                                 request.max_length)
        if budgets[task.name] < 2:
            raise UserError(f"task {task.name}: the context window ({window}) leaves no room for a prompt "
                            f"after {task.max_new_tokens} answer tokens; give --max-length")
    seq_len = window if request.max_length is None else engine_length(inputs.tasks, budgets, overheads)
    from longeval.methods.length import extrapolation_warning

    # Both engines compute the positions past the method's coverage the same way: one warning, whichever runs.
    warning = extrapolation_warning(method, inputs.config, seq_len)
    warnings = [warning] if warning else []
    named_after = Path(inputs.gguf.file) if inputs.gguf else inputs.model_dir  # not the converted cache folder
    run_name = request.run_name or default_run_name(named_after, method.spec, request.max_length,
                                                    run_name_suffix(inputs.tasks),
                                                    inputs.hub.get("repo_id"))
    if run_name in ("", ".", "..") or any(c in run_name for c in "/\\") or not run_name.isprintable():
        # a newline or other control character would make a folder no listing or shell shows as it is
        raise UserError(f"--run-name must be a plain folder name (no '/', '\\', newline or control character), got "
                        f"{run_name!r}")
    bound = method.for_run_length(request.max_length if request.max_length is not None else window)
    settings = {
        "model_config_sha256": inputs.config_sha256, "model_weights_sha256": inputs.weights_sha256,
        "method": bound.spec, "max_length": request.max_length, "chat_wrapper": inputs.wrapper,
        "backend": request.backend, "dtype": canonical_dtype(request.dtype),
        **family_settings(inputs.tasks),  # e.g. LongBench's longbench_e
        # given only (so that runs without them keep their fingerprints)
        **({"benchmark_options": dict(sorted(request.benchmark_options.items()))} if request.benchmark_options
           else {}),
        **fingerprinted(request.backend_options),  # engine arguments that can change predictions (none by default)
    }
    if inputs.hub:  # only for hub models, so that local runs keep their fingerprints
        settings["model_commit"] = inputs.hub["commit"]
    return RunPlan(run_name=run_name, folder=Path(request.out) / run_name, method=bound, window=window,
                   budgets=budgets, engine_length=seq_len, settings=settings,
                   fingerprint=settings_fingerprint(settings), warnings=tuple(warnings))
