"""What a run reads before anything is planned: the checkpoint's config and weight identity, the tasks, the
method, the records and the tokenizer. Every refusal of bad input here happens before a folder is touched."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks import benchmark_of, get_benchmark
from longeval.data import DataSource
from longeval.errors import UserError
from longeval.gguf import GGUFSource
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
    method: Any  # longeval.methods.Method, as --method names it (not yet bound to a run length)
    source: DataSource
    records: dict[str, list[dict[str, Any]]]  # task name -> the selected records, in file order
    tokenizer: Any
    wrapper: str  # the chat wrapper actually used: hf | llama2 | none
    model_name: str = ""  # the folder's name, or the hub repository's (a hub snapshot folder is named by its commit)
    hub: dict[str, str] = field(default_factory=dict)  # repo_id, revision, commit of a hub model; empty if local
    gguf: GGUFSource | None = None  # --model named a GGUF file, converted into model_dir
    identity: dict[str, Any] = field(default_factory=dict)  # task -> its family's data_identity, for run.json


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

    method = method_from_config(config) if spec is None else parse_method(spec)
    method.check_model(config)  # here, for every backend (the engines check it only when they build the model)
    return method


def resolve_run_tasks(spec: str) -> list[Task]:
    """The tasks, checked by their families (e.g. kinds whose result.json formats differ cannot share a run) and
    for prediction files two tasks would share."""
    tasks = resolve_tasks(spec)
    by_family: dict[str, list[Task]] = {}
    for task in tasks:
        by_family.setdefault(task.benchmark, []).append(task)
    for name, members in by_family.items():
        get_benchmark(name).check_run(members)
    stems: dict[str, str] = {}
    for task in tasks:
        stem = benchmark_of(task).pred_file_stem(task)
        if stem in stems:
            raise UserError(f"tasks {stems[stem]} and {task.name} write the same prediction file ({stem}.jsonl) "
                            "and cannot share a run; run them separately")
        stems[stem] = task.name
    return tasks


def check_options(options: dict[str, Any], tasks: list[Task]) -> dict[str, dict[str, Any]]:
    """Each family's options among `options` (family name -> its options), checked against what the families of
    the run's tasks declare (`Benchmark.options`); an option no family takes is a UserError naming the known."""
    declared: dict[str, tuple[str, Any]] = {}
    for name in dict.fromkeys(task.benchmark for task in tasks):
        for key, spec in get_benchmark(name).options.items():
            declared.setdefault(key, (name, spec))
    by_family: dict[str, dict[str, Any]] = {name: {} for name in dict.fromkeys(t.benchmark for t in tasks)}
    for key, value in options.items():
        if key not in declared:
            known = ", ".join(declared) or "none for these tasks"
            raise UserError(f"unknown option '{key}' (known: {known})", field="--option")
        family, spec = declared[key]
        if not isinstance(value, spec.types) or (bool not in spec.types and isinstance(value, bool)):
            raise UserError(f"{key} must be {spec.description}, got {value!r}", field="--option")
        by_family[family][key] = value
    return by_family


def family_settings(tasks: list[Task]) -> dict[str, Any]:
    """What the tasks' families add to the run's settings (their fingerprint: a resume must match them)."""
    settings: dict[str, Any] = {}
    given_by: dict[str, str] = {}
    for name in dict.fromkeys(task.benchmark for task in tasks):
        members = [t for t in tasks if t.benchmark == name]
        for key, value in get_benchmark(name).run_settings(members).items():
            if key in settings and settings[key] != value:
                raise UserError(f"tasks {given_by[key]} and {members[0].name} cannot share a run ({key} differs: "
                                f"{settings[key]!r} vs {value!r}); run them separately")
            settings[key], given_by[key] = value, members[0].name
    return settings


def run_name_suffix(tasks: list[Task]) -> str:
    """What the families append to a default run folder name (e.g. a variant's marker)."""
    return "".join(get_benchmark(name).run_name_suffix([t for t in tasks if t.benchmark == name])
                   for name in dict.fromkeys(task.benchmark for task in tasks))


def load_inputs(model: str, tasks_spec: str, data: str, method_spec: str | None, limit: int | None,
                chat_template: str | None, max_length: int | None,
                options: dict[str, Any] | None = None) -> tuple[RunInputs, dict[str, float]]:
    """Everything a run reads, checked; with the seconds spent per phase (load_data, load_tokenizer)."""
    import time

    from longeval.checkpoint import resolve_checkpoint
    from longeval.runs.identity import weights_fingerprint

    seconds: dict[str, float] = {}
    checkpoint = resolve_checkpoint(model, echo=print)  # a .gguf file: converted once, cached; a hub id: fetched
    resolved, gguf = checkpoint.hub, checkpoint.gguf
    model_dir, config, config_sha = read_model_config(str(checkpoint.folder))
    tasks = resolve_run_tasks(tasks_spec)
    family_options = check_options(options or {}, tasks)
    if max_length is not None and max_length < 2:
        raise UserError(f"--max-length must be at least 2, got {max_length}")
    method = resolve_method(method_spec, config)
    started = time.perf_counter()
    tokenizer = load_tokenizer(str(model_dir))
    wrapper = resolve_chat_wrapper(chat_template, tokenizer)
    seconds["load_tokenizer"] = time.perf_counter() - started
    started = time.perf_counter()
    source = open_task_data(tasks, data)
    records, identity = {}, {}
    for task in tasks:
        unit = benchmark_of(task)
        records[task.name] = unit.load_records(
            task, source, limit, tokenizer=tokenizer,
            budget=generation_budget(task, tokenizer, wrapper, config, method, max_length),
            options={**family_options[task.benchmark], "chat_wrapper": wrapper})
        facts = unit.data_identity(task, records[task.name])
        if facts:
            identity[task.name] = facts
    seconds["load_data"] = time.perf_counter() - started
    started = time.perf_counter()
    weights = weights_fingerprint(model_dir)
    seconds["hash_weights"] = time.perf_counter() - started
    return RunInputs(model_dir=model_dir, config=config, config_sha256=config_sha, weights_sha256=weights,
                     tasks=tasks, method=method, source=source, records=records, tokenizer=tokenizer,
                     wrapper=wrapper, model_name=resolved.name, hub=resolved.provenance(), gguf=gguf,
                     identity=identity), seconds


def open_task_data(tasks: list[Task], data: str) -> DataSource:
    """--data as the tasks' family opens it. Only generated tasks: not opened (its default, 'hub', would download
    LongBench). Two families that read data differently (LongBench's folder or zip, LongBench v2's data.json)
    cannot share one --data: refused in one line."""
    readers = list(dict.fromkeys(benchmark_of(task).name for task in tasks if benchmark_of(task).needs_data(task)))
    if not readers:
        return DataSource("generated", Path("."), describe="generated")
    if len(readers) > 1:
        raise UserError(f"tasks of {' and '.join(readers)} read different --data; run them separately")
    return get_benchmark(readers[0]).open_data(data)


def generation_budget(task: Task, tokenizer: Any, wrapper: str, config: dict[str, Any], method: Any,
                      max_length: int | None) -> int | None:
    """The prompt budget a task's records are built to (the plan computes the same: a generator fills it);
    None for records read from --data."""
    unit = benchmark_of(task)
    if unit.needs_data(task):
        return None
    from longeval.methods.length import default_length

    return unit.prompt_budget(task, tokenizer, wrapper, default_length(method, config), max_length)[0]
