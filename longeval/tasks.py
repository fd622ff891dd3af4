"""The task registry: one YAML file per task (the top-level tasks/ folder, plus user folders), and named suites.

Tasks are data. Each file is checked against FIELDS when read: an unknown key, a missing field, a wrong type or an
unknown metric is a one-line UserError naming the file and the field. Every `*.yaml` file of a task folder is a
task (suites.yaml excepted), whether or not a suite lists it. User folders come from --tasks-path (see
add_tasks_path) and LONGEVAL_TASKS_PATH (os.pathsep-separated); their tasks and suites join the built-in ones,
and a name defined twice is an error naming both files.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from longeval.errors import UserError

TASKS_PATH_ENV = "LONGEVAL_TASKS_PATH"
SUITES_FILE = "suites.yaml"
LANGUAGES = ("en", "zh", "code")
# Where a task's records come from: a LongBench data file (<data_file>.jsonl in the --data folder/zip/hub), or a
# generator registered in longeval.data (synthetic tasks whose records are made, not read).
SOURCES = ("longbench", "generated")
# Record fields a prompt template may name (str.format(**record)); the record schema is in longeval.data.
PROMPT_FIELDS = ("context", "input")


@dataclass(frozen=True)
class Task:
    """Everything the official pred.py/eval.py know about one task, as data."""

    name: str
    version: int  # bump when anything that changes predictions or scores changes; recorded in run.json
    language: str  # "en", "zh" or "code"
    category: str  # LongBench category, e.g. "single-doc QA"
    metric: str  # a name in longeval.metrics.METRICS
    max_new_tokens: int
    chat: bool  # whether the chat wrapper applies (official: all but trec, triviaqa, samsum, lsht, lcc, repobench-p)
    first_line: bool  # eval.py scores only the first line of the prediction (trec, triviaqa, samsum, lsht)
    prompt: str  # official template, filled with str.format(**record)
    samples: int | None = None  # records in the official test set (LongBench-E: not fixed)
    short_name: str | None = None  # the column name in the entropy-aware ABF paper's tables
    variant_of: str | None = None  # LongBench-E: the base task whose prompt/metric/limits apply
    data_file: str | None = None  # data file stem; defaults to name
    # Strings whose last token ends generation, together with the tokenizer's EOS and replacing the model's other
    # EOS ids (pred.py: samsum stops at "\n").
    stop: tuple[str, ...] = ()
    min_new_tokens: int = 0  # stop strings and EOS are banned before this many tokens (pred.py: samsum 1)
    source: str = "longbench"  # one of SOURCES
    generator: str | None = None  # source "generated": the generator's name in longeval.data
    generator_args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    path: str = field(default="", compare=False)  # the YAML file it came from (for located errors)

    @property
    def base(self) -> str:
        """The LongBench v1 task whose prediction file name and metric this task uses."""
        return self.variant_of or self.name

    @property
    def file_stem(self) -> str:
        return self.data_file or self.name

    @property
    def is_e(self) -> bool:
        return self.variant_of is not None


# key -> (accepted types, description, required in a base task file). A variant file needs only name + variant_of.
FIELDS: dict[str, tuple[tuple[type, ...], str, bool]] = {
    "name": ((str,), "a string", True),
    "version": ((int,), "a positive integer", True),
    "language": ((str,), f"one of {', '.join(LANGUAGES)}", True),
    "category": ((str,), "a string", True),
    "metric": ((str,), "a metric name", True),
    "max_new_tokens": ((int,), "a positive integer", True),
    "chat": ((bool,), "true or false", True),
    "first_line": ((bool,), "true or false", True),
    "prompt": ((str,), "a string", True),
    "samples": ((int,), "a positive integer", False),
    "short_name": ((str,), "a string", False),
    "variant_of": ((str,), "a task name", False),
    "data_file": ((str,), "a file name without .jsonl", False),
    "stop": ((list,), "a list of strings", False),
    "min_new_tokens": ((int,), "a non-negative integer", False),
    "source": ((str,), f"one of {', '.join(SOURCES)}", False),
    "generator": ((str,), "a generator name", False),
    "generator_args": ((dict,), "a mapping", False),
}
# Keys a LongBench-E style variant does not inherit from its base task.
_NOT_INHERITED = ("short_name", "samples", "data_file")


def builtin_tasks_dir() -> Path:
    """The shipped task folder: longeval/_tasks in an installed wheel, else tasks/ beside the package (a source
    checkout, used as is by the editable install and by PYTHONPATH=<checkout>)."""
    package = Path(__file__).resolve().parent
    shipped = package / "_tasks"
    return shipped if shipped.is_dir() else package.parent / "tasks"


_user_dirs: list[Path] = []


def add_tasks_path(path: str | Path) -> None:
    """Add a folder of user task files (same format as tasks/) to the registry; `--tasks-path` calls this."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserError("not a folder of task files", path=folder)
    if folder not in _user_dirs:
        _user_dirs.append(folder)
    clear_cache()


def clear_cache() -> None:
    """Forget the tasks read so far (after the task folders changed)."""
    _load.cache_clear()


def task_dirs() -> list[Path]:
    """Every folder tasks are read from, built-in first, then LONGEVAL_TASKS_PATH, then --tasks-path folders."""
    env = [Path(p) for p in os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep) if p]
    for folder in env:
        if not folder.is_dir():
            raise UserError(f"{TASKS_PATH_ENV} names a missing folder", path=folder)
    return list(dict.fromkeys([builtin_tasks_dir(), *env, *_user_dirs]))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise UserError(f"not valid YAML ({getattr(exc, 'problem', None) or exc})", path=path, line=line) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the task file ({exc})", path=path) from None


def _check_fields(doc: dict[str, Any], path: Path) -> None:
    """Types and values of the keys present; unknown keys are errors (a typo must not silently do nothing)."""
    for key, value in doc.items():
        if key not in FIELDS:
            raise UserError(f"unknown key (known: {', '.join(FIELDS)})", path=path, field=str(key))
        types, description, _ = FIELDS[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise UserError(f"must be {description}, got {type(value).__name__}", path=path, field=key)
    for key in ("version", "max_new_tokens", "samples"):
        if key in doc and doc[key] < 1:
            raise UserError("must be a positive integer", path=path, field=key)
    if doc.get("min_new_tokens", 0) < 0:
        raise UserError("must be a non-negative integer", path=path, field="min_new_tokens")
    if "language" in doc and doc["language"] not in LANGUAGES:
        raise UserError(f"unknown language '{doc['language']}' (known: {', '.join(LANGUAGES)})", path=path,
                        field="language")
    if "metric" in doc:
        from longeval.metrics import METRICS

        if doc["metric"] not in METRICS:
            raise UserError(f"unknown metric '{doc['metric']}' (known: {', '.join(METRICS)})", path=path,
                            field="metric")
    if "stop" in doc and not all(isinstance(s, str) and s for s in doc["stop"]):
        raise UserError("must be a list of non-empty strings", path=path, field="stop")
    if "source" in doc and doc["source"] not in SOURCES:
        raise UserError(f"unknown source '{doc['source']}' (known: {', '.join(SOURCES)})", path=path,
                        field="source")
    if "prompt" in doc:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(doc["prompt"]) if name is not None}
        except ValueError as exc:
            raise UserError(f"not a valid template ({exc})", path=path, field="prompt") from None
        unknown = sorted(names - set(PROMPT_FIELDS))
        if unknown:
            raise UserError(f"names unknown record field(s) {', '.join(unknown)} (known: {', '.join(PROMPT_FIELDS)})",
                            path=path, field="prompt")


def _check_complete(doc: dict[str, Any], path: Path) -> None:
    """After inheritance: every required field present, and the data source fully described."""
    for key, (_, _, required) in FIELDS.items():
        if required and key not in doc:
            raise UserError("missing field", path=path, field=key)
    if doc.get("source", "longbench") == "generated" and "generator" not in doc:
        raise UserError("missing field (a generated task names its generator)", path=path, field="generator")
    if doc.get("source", "longbench") != "generated":
        for key in ("generator", "generator_args"):
            if key in doc:
                raise UserError("only a task with source: generated takes this key", path=path, field=key)


def _read_task_file(path: Path) -> dict[str, Any]:
    doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise UserError("a task file must be a mapping of keys to values", path=path)
    _check_fields(doc, path)
    if "name" not in doc:
        raise UserError("missing field", path=path, field="name")
    if doc["name"] != path.stem:
        raise UserError(f"must match the file name ('{path.stem}')", path=path, field="name")
    return doc


def _read_suites(path: Path) -> dict[str, list[str]]:
    doc = _read_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UserError("suites.yaml must map suite names to lists of task names", path=path)
    out: dict[str, list[str]] = {}
    for name, members in doc.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise UserError("must be a list of task names", path=path, field=str(name))
        out[str(name)] = list(members)
    return out


@cache
def _load() -> tuple[dict[str, Task], dict[str, list[str]]]:
    """Read and check every task folder once: (tasks in report order, suites)."""
    raw: dict[str, tuple[dict[str, Any], Path]] = {}
    suite_map: dict[str, tuple[list[str], Path]] = {}
    for folder in task_dirs():
        for path in sorted(folder.glob("*.yaml")):
            if path.name == SUITES_FILE:
                for name, members in _read_suites(path).items():
                    if name in suite_map:
                        raise UserError(f"suite '{name}' is already defined in {suite_map[name][1]}", path=path,
                                        field=name)
                    suite_map[name] = (members, path)
                continue
            doc = _read_task_file(path)
            if doc["name"] in raw:
                raise UserError(f"task '{doc['name']}' is already defined in {raw[doc['name']][1]}", path=path,
                                field="name")
            raw[doc["name"]] = (doc, path)
    tasks: dict[str, Task] = {}
    for name, (doc, path) in raw.items():
        if "variant_of" in doc:
            base_name = doc["variant_of"]
            if base_name not in raw or "variant_of" in raw[base_name][0]:
                raise UserError(f"'{base_name}' is not a base task", path=path, field="variant_of")
            inherited = {k: v for k, v in raw[base_name][0].items() if k not in _NOT_INHERITED}
            doc = {**inherited, **doc}
        _check_complete(doc, path)
        doc = {**doc, "stop": tuple(doc.get("stop", ()))}
        tasks[name] = Task(**doc, path=str(path))
    suite_lists = {name: members for name, (members, _) in suite_map.items()}
    for name, (members, path) in suite_map.items():
        for member in members:
            if member not in tasks:
                raise UserError(f"lists unknown task '{member}'", path=path, field=name)
    # Report order: the tasks as the suites first list them, then tasks no suite lists, by name.
    order = [m for members in suite_lists.values() for m in members] + sorted(tasks)
    return {name: tasks[name] for name in dict.fromkeys(order)}, suite_lists


def all_tasks() -> dict[str, Task]:
    """Every task by name: the suites' tasks in their order (LongBench v1, then LongBench-E), then the rest."""
    return _load()[0]


def suites() -> dict[str, list[str]]:
    """Suite name -> task names in report order."""
    return _load()[1]


def get_task(name: str) -> Task:
    try:
        return all_tasks()[name]
    except KeyError:
        raise UserError(f"unknown task '{name}' (see `longeval tasks`)") from None


def resolve_tasks(spec: str | list[str]) -> list[Task]:
    """Expand a comma list of task and suite names ('paper12', 'trec,samsum') into tasks, without repeats."""
    names = spec.split(",") if isinstance(spec, str) else spec
    out: dict[str, Task] = {}
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name in suites():
            for member in suites()[name]:
                out.setdefault(member, get_task(member))
        elif name in all_tasks():
            out.setdefault(name, all_tasks()[name])
        else:
            known = ", ".join(suites())
            raise UserError(f"unknown task or suite '{name}' (suites: {known}; tasks: `longeval tasks`)")
    if not out:
        raise UserError("no tasks given")
    return list(out.values())
