"""The LongBench task registry: one YAML file per task in longeval/tasks/, plus named suites."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from longeval.errors import UserError

METRICS = ("qa_f1", "qa_f1_zh", "rouge", "rouge_zh", "classification", "retrieval", "retrieval_zh", "count",
           "code_sim")


@dataclass(frozen=True)
class Task:
    """Everything the official pred.py/eval.py know about one task, as data."""

    name: str
    language: str  # "en", "zh" or "code"
    category: str  # LongBench category, e.g. "single-doc QA"
    metric: str  # one of METRICS
    max_new_tokens: int
    chat: bool  # whether the chat wrapper applies (official: all but trec, triviaqa, samsum, lsht, lcc, repobench-p)
    first_line: bool  # eval.py scores only the first line of the prediction (trec, triviaqa, samsum, lsht)
    prompt: str  # official template, filled with str.format(**record)
    samples: int | None = None  # records in the official test set (LongBench-E: not fixed)
    short_name: str | None = None  # the column name in the entropy-aware ABF paper's tables
    variant_of: str | None = None  # LongBench-E: the base task whose prompt/metric/limits apply
    data_file: str | None = None  # data file stem; defaults to name

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


def _read_yaml(name: str) -> Any:
    return yaml.safe_load(resources.files("longeval").joinpath("tasks", name).read_text(encoding="utf-8"))


@cache
def all_tasks() -> dict[str, Task]:
    """Every task by name, LongBench v1 first, then the LongBench-E variants (read once)."""
    raw: dict[str, dict[str, Any]] = {}
    for entry in sorted(resources.files("longeval").joinpath("tasks").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml") and entry.name != "suites.yaml":
            doc = _read_yaml(entry.name)
            raw[doc["name"]] = doc
    tasks: dict[str, Task] = {}
    for name, doc in raw.items():
        if "variant_of" in doc:
            doc = {**raw[doc["variant_of"]], **doc}
            doc.pop("short_name", None)
            doc.pop("samples", None)
        tasks[name] = Task(**doc)
    order = suites()["longbench"] + suites()["longbench-e"]
    return {name: tasks[name] for name in order}


@cache
def suites() -> dict[str, list[str]]:
    """Suite name -> task names in report order."""
    return {name: list(members) for name, members in _read_yaml("suites.yaml").items()}


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
