"""What a run reads before anything is planned: the checkpoint's config and weight identity, the tasks, the
method, the records and the tokenizer. Every refusal of bad input here happens before a folder is touched."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.data import DataSource, open_source
from longeval.errors import UserError
from longeval.gguf import GGUFSource
from longeval.gguf import resolve_model as resolve_gguf
from longeval.methods.config import parse_config
from longeval.prompts import load_tokenizer, resolve_chat_wrapper
from longeval.tasks import Task, resolve_tasks


@dataclass
class RunInputs:
    model_dir: Path
    config: dict[str, Any]
    config_sha256: str
    weights_sha256: str
    tasks: list[Task]
    is_e: bool
    method: Any  # longeval.methods.Method, as --method names it (not yet bound to a run length)
    source: DataSource
    records: dict[str, list[dict[str, Any]]]  # task name -> the selected records, in file order
    tokenizer: Any
    wrapper: str  # the chat wrapper actually used: hf | llama2 | none
    model_name: str = ""  # the folder's name, or the hub repository's (a hub snapshot folder is named by its commit)
    hub: dict[str, str] = field(default_factory=dict)  # repo_id, revision, commit of a hub model; empty if local
    gguf: GGUFSource | None = None  # --model named a GGUF file, converted into model_dir


def read_model_config(model: str) -> tuple[Path, dict[str, Any], str]:
    """The checkpoint folder, its config.json and the config's sha256; a folder without one is a UserError."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise UserError("model folder not found (give a local checkpoint folder)", path=folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError("no config.json: not a Hugging Face checkpoint folder", path=folder)
    raw = config_path.read_bytes()
    config = parse_config(raw, config_path)
    if not isinstance(config.get("max_position_embeddings"), int):
        raise UserError("missing or non-integer", path=config_path, field="max_position_embeddings")
    return folder, config, hashlib.sha256(raw).hexdigest()


def resolve_method(spec: str | None, config: dict[str, Any]):
    """The method named by --method, or the one an extended checkpoint's config carries."""
    from longeval.methods import method_from_config, parse_method

    return method_from_config(config) if spec is None else parse_method(spec)


def resolve_run_tasks(spec: str) -> tuple[list[Task], bool]:
    """The tasks and whether they are LongBench-E ones (a run holds one kind: their result.json formats differ)."""
    tasks = resolve_tasks(spec)
    kinds = {task.is_e for task in tasks}
    if len(kinds) > 1:
        raise UserError("LongBench and LongBench-E tasks cannot share a run (their result.json formats differ); "
                        "run them separately")
    return tasks, kinds.pop()


def load_inputs(model: str, tasks_spec: str, data: str, method_spec: str | None, limit: int | None,
                chat_template: str | None, max_length: int | None) -> tuple[RunInputs, dict[str, float]]:
    """Everything a run reads, checked; with the seconds spent per phase (load_data, load_tokenizer)."""
    import time

    from longeval.hub import resolve_model
    from longeval.runs.identity import weights_fingerprint

    seconds: dict[str, float] = {}
    resolved = resolve_model(model)
    model_path, gguf = resolve_gguf(resolved.path)  # a .gguf file: converted once, cached
    model_dir, config, config_sha = read_model_config(str(model_path))
    tasks, is_e = resolve_run_tasks(tasks_spec)
    if max_length is not None and max_length < 2:
        raise UserError(f"--max-length must be at least 2, got {max_length}")
    method = resolve_method(method_spec, config)
    started = time.perf_counter()
    tokenizer = load_tokenizer(str(model_dir))
    wrapper = resolve_chat_wrapper(chat_template, tokenizer)
    seconds["load_tokenizer"] = time.perf_counter() - started
    started = time.perf_counter()
    # Only generated tasks (passkey): --data is not opened (its default, 'hub', would download LongBench).
    source = (open_source(data) if any(task.source != "generated" for task in tasks)
              else DataSource("generated", Path("."), describe="generated"))
    records = {task.name: source.load(task, limit, tokenizer=tokenizer,
                                      budget=generation_budget(task, tokenizer, wrapper, config, method, max_length))
               for task in tasks}
    seconds["load_data"] = time.perf_counter() - started
    started = time.perf_counter()
    weights = weights_fingerprint(model_dir)
    seconds["hash_weights"] = time.perf_counter() - started
    return RunInputs(model_dir=model_dir, config=config, config_sha256=config_sha, weights_sha256=weights,
                     tasks=tasks, is_e=is_e, method=method, source=source, records=records, tokenizer=tokenizer,
                     wrapper=wrapper, model_name=resolved.name, hub=resolved.provenance(), gguf=gguf), seconds


def generation_budget(task: Task, tokenizer: Any, wrapper: str, config: dict[str, Any], method: Any,
                      max_length: int | None) -> int | None:
    """The prompt budget a generated task builds its records to (the plan computes the same); None otherwise."""
    if task.source != "generated":
        return None
    from longeval.prompts import prompt_budget
    from longeval.runs.plan import context_window

    return prompt_budget(task, tokenizer, wrapper, context_window(config, method), max_length)[0]
