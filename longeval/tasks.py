"""The task registry: one YAML file per task (tasks/<family>/ folders, plus user folders), and named suites.

Tasks are data. Each file names its benchmark family (`benchmark: <name>`, see longeval.benchmarks) and is checked
when read: the common keys (COMMON_KEYS) here, the family's own keys (its unit's `task_keys`) by the same code,
then the unit's `check_task`; an unknown key, a missing field, a wrong type or value is a one-line UserError
naming the file and the field. A task may be a variant of another (`variant_of: <base>`: it inherits the base's
keys but those the family lists in `not_inherited`). Every `*.yaml` file of a task folder or of its subfolders is
a task (suites.yaml excepted), whether or not a suite lists it. User folders come from --tasks-path (see
add_tasks_path) and LONGEVAL_TASKS_PATH (os.pathsep-separated); their tasks and suites join the built-in ones,
and a name defined twice is an error naming both files.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from longeval.errors import UserError

if TYPE_CHECKING:
    from longeval.benchmarks.base import Benchmark, KeySpec

TASKS_PATH_ENV = "LONGEVAL_TASKS_PATH"
SUITES_FILE = "suites.yaml"


@dataclass(frozen=True)
class Task:
    """The keys every benchmark family's tasks share; a family's task class (a subclass) adds its own."""

    name: str
    version: int  # bump when anything that changes predictions or scores changes; recorded in run.json
    max_new_tokens: int
    benchmark: str = ""  # the family (longeval.benchmarks) whose unit reads, prompts, scores and reports the task
    language: str = ""
    category: str = ""  # the report groups task columns by it
    prompt: str = ""  # the template a record fills (how: the family's build_prompt)
    chat: bool = False  # whether the chat wrapper applies
    # Strings whose last token ends generation, together with the tokenizer's EOS and replacing the model's other
    # EOS ids (pred.py: samsum stops at "\n").
    stop: tuple[str, ...] = ()
    min_new_tokens: int = 0  # stop strings and EOS are banned before this many tokens (pred.py: samsum 1)
    short_name: str | None = None  # the report's column name (default: the task name)
    variant_of: str | None = None  # the base task whose keys this one inherits
    path: str = field(default="", compare=False)  # the YAML file it came from (for located errors)


def _spec(types: tuple[type, ...], description: str, required: bool = False) -> KeySpec:
    from longeval.benchmarks.base import KeySpec

    return KeySpec(types, description, required)


def common_keys() -> dict[str, KeySpec]:
    """The keys every task file may hold (a family's `task_keys` may make one required)."""
    return {
        "name": _spec((str,), "a string", True),
        "version": _spec((int,), "a positive integer", True),
        "benchmark": _spec((str,), "a benchmark family name"),
        "language": _spec((str,), "a string"),
        "category": _spec((str,), "a string"),
        "max_new_tokens": _spec((int,), "a positive integer", True),
        "chat": _spec((bool,), "true or false"),
        "prompt": _spec((str,), "a string"),
        "short_name": _spec((str,), "a string"),
        "variant_of": _spec((str,), "a task name"),
        "stop": _spec((list,), "a list of strings"),
        "min_new_tokens": _spec((int,), "a non-negative integer"),
    }


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


@lru_cache(maxsize=512)
def _parse_yaml(text: str) -> Any:
    """yaml.safe_load, once per distinct file text: the registry is re-read after every --tasks-path change
    (clear_cache), and pure-Python YAML parsing was most of a re-read. A text that fails to parse raises again
    each time (lru_cache keeps only results)."""
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> Any:
    """The file's document, a private copy (callers may change it; the cached parse must stay as parsed)."""
    try:
        return copy.deepcopy(_parse_yaml(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise UserError(f"not valid YAML ({getattr(exc, 'problem', None) or exc})", path=path, line=line) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the task file ({exc})", path=path) from None


def _check_fields(doc: Mapping[str, Any], path: Path, keys: Mapping[str, KeySpec]) -> None:
    """Types and values of the keys present; unknown keys are errors (a typo must not silently do nothing)."""
    for key, value in doc.items():
        if key not in keys:
            raise UserError(f"unknown key (known: {', '.join(keys)})", path=path, field=str(key))
        spec = keys[key]
        if not isinstance(value, spec.types) or (bool not in spec.types and isinstance(value, bool)):
            raise UserError(f"must be {spec.description}, got {type(value).__name__}", path=path, field=key)
    for key in ("version", "max_new_tokens"):
        if key in doc and doc[key] < 1:
            raise UserError("must be a positive integer", path=path, field=key)
    if doc.get("min_new_tokens", 0) < 0:
        raise UserError("must be a non-negative integer", path=path, field="min_new_tokens")
    if "stop" in doc and not all(isinstance(s, str) and s for s in doc["stop"]):
        raise UserError("must be a list of non-empty strings", path=path, field="stop")


def _read_task_file(path: Path) -> dict[str, Any]:
    doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise UserError("a task file must be a mapping of keys to values", path=path)
    if "name" not in doc:
        raise UserError("missing field", path=path, field="name")
    if not isinstance(doc["name"], str):
        raise UserError(f"must be a string, got {type(doc['name']).__name__}", path=path, field="name")
    if doc["name"] != path.stem:
        raise UserError(f"must match the file name ('{path.stem}')", path=path, field="name")
    check_file_stem(doc["name"], path, "name")
    return doc


def check_file_stem(value: str, path: Path, field: str) -> None:
    """A name that becomes a file name (pred/<name>.jsonl, <data>/<data_file>.jsonl) must stay in its folder:
    no path separator, no '..', not absolute."""
    if not value or "/" in value or "\\" in value or value.startswith(".") or "\0" in value:
        raise UserError(f"must be a plain file name inside its folder (no '/', '..' or leading '.'), got {value!r}",
                        path=path, field=field)


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


def _task_files(folder: Path) -> list[Path]:
    """The YAML files of a task folder: its own, then its subfolders' (one per family, by name). In the built-in
    folder a subfolder named after a family that is not registered is not read (its YAML ships with its unit)."""
    from longeval.benchmarks import all_benchmarks

    files = sorted(folder.glob("*.yaml"))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if folder == builtin_tasks_dir() and sub.name not in all_benchmarks():
            continue
        files += sorted(sub.rglob("*.yaml"))
    return files


def _family(name: str, raw: Mapping[str, tuple[dict[str, Any], Path]]) -> Benchmark:
    """The unit of a raw task document: its `benchmark:`, its base task's, or the default family's."""
    from longeval.benchmarks import default_benchmark, get_benchmark

    doc, path = raw[name]
    if "benchmark" in doc:
        if not isinstance(doc["benchmark"], str):
            raise UserError(f"must be a benchmark family name, got {type(doc['benchmark']).__name__}", path=path,
                            field="benchmark")
        try:
            return get_benchmark(doc["benchmark"])
        except UserError as exc:
            raise UserError(str(exc), path=path, field="benchmark") from None
    base = doc.get("variant_of")
    if isinstance(base, str) and base in raw and "variant_of" not in raw[base][0]:
        return _family(base, raw)
    return default_benchmark()


def _make_task(doc: dict[str, Any], path: Path, unit: Benchmark) -> Task:
    """The task object: the family's task class, built from a complete, checked document."""
    cls = unit.task_class or Task
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in doc.items() if k in names}
    values["stop"] = tuple(doc.get("stop", ()))
    values["benchmark"] = unit.name
    task = cls(**values, path=str(path))
    if not isinstance(task, Task):
        raise TypeError(f"benchmark {unit.name}: task_class must subclass longeval.tasks.Task")
    return task


@cache
def _load() -> tuple[dict[str, Task], dict[str, list[str]]]:
    """Read and check every task folder once: (tasks in report order, suites)."""
    raw: dict[str, tuple[dict[str, Any], Path]] = {}
    suite_map: dict[str, tuple[list[str], Path]] = {}
    for folder in task_dirs():
        for path in _task_files(folder):
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
        unit = _family(name, raw)
        keys = {**common_keys(), **unit.task_keys}
        _check_fields(doc, path, keys)
        if "variant_of" in doc:
            base_name = doc["variant_of"]
            if base_name not in raw or "variant_of" in raw[base_name][0]:
                raise UserError(f"'{base_name}' is not a base task", path=path, field="variant_of")
            inherited = {k: v for k, v in raw[base_name][0].items() if k not in unit.not_inherited}
            doc = {**inherited, **doc}
        for key, spec in keys.items():
            if spec.required and key not in doc:
                raise UserError("missing field", path=path, field=key)
        unit.check_task(doc, path)
        tasks[name] = _make_task(doc, path, unit)
    suite_lists = {name: members for name, (members, _) in suite_map.items()}
    for name, (members, path) in suite_map.items():
        if name in tasks and members != [name]:  # `--tasks NAME` expands suites first: the task would silently
            # become the suite (`passkey: [passkey]` names the task itself, and changes nothing)
            raise UserError(f"suite '{name}' has the name of the task defined in {tasks[name].path}; a suite may not "
                            "redefine a task", path=path, field=name)
        for member in members:
            if member not in tasks:
                raise UserError(f"lists unknown task '{member}'", path=path, field=name)
    # Report order: the tasks as the suites first list them, then tasks no suite lists, by name.
    order = [m for members in suite_lists.values() for m in members] + sorted(tasks)
    return {name: tasks[name] for name in dict.fromkeys(order)}, suite_lists


def all_tasks() -> dict[str, Task]:
    """Every task by name: the suites' tasks in their order, then the rest."""
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
