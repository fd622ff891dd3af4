"""A RULER task as data: the generator it runs, RULER's template and answer prefix, tokens to generate, metric and
the generator's arguments, read from tasks/ruler/<task>.yaml and checked with located errors.

The YAML carries RULER's own values (synthetic.yaml, data/synthetic/constants.py, eval/synthetic/constants.py at
c3f5e3b); `digest` is what the record cache and run.json use as the task definition's identity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from longeval.benchmarks.ruler.metrics import METRICS
from longeval.errors import UserError

HAYSTACKS = ("noise", "essay", "needle")
NEEDLE_TYPES = ("numbers", "words", "uuids")
QA_DATASETS = ("squad", "hotpotqa")

# The arguments each generator accepts: name -> (type, allowed values or None, default).
ARG_SPECS: dict[str, dict[str, tuple[type, tuple[Any, ...] | None, Any]]] = {
    "niah": {"type_haystack": (str, HAYSTACKS, "essay"), "type_needle_k": (str, NEEDLE_TYPES, "words"),
             "type_needle_v": (str, NEEDLE_TYPES, "numbers"), "num_needle_k": (int, None, 1),
             "num_needle_v": (int, None, 1), "num_needle_q": (int, None, 1)},
    "variable_tracking": {"type_haystack": (str, ("noise",), "noise"), "num_chains": (int, None, 1),
                          "num_hops": (int, None, 4)},
    "common_words_extraction": {"freq_cw": (int, None, 30), "freq_ucw": (int, None, 3), "num_cw": (int, None, 10),
                                "num_fewshot": (int, None, 1)},
    "freq_words_extraction": {"alpha": (float, None, 2.0), "coded_wordlen": (int, None, 6),
                              "vocab_size": (int, None, -1)},
    "qa": {"dataset": (str, QA_DATASETS, None)},
}
GENERATORS = tuple(ARG_SPECS)
# The first characters of each generator's answer prefix: RULER finds the prefix in the filled text with them.
PREFIX_PROBE = 10


@dataclass(frozen=True)
class RulerTask:
    """One of RULER's tasks (niah_single_1 ... qa_2) as the generators need it."""

    name: str                    # longeval's task name (ruler_niah_single_1)
    ruler_name: str              # RULER's (niah_single_1): prediction and summary names
    generator: str               # niah, variable_tracking, common_words_extraction, freq_words_extraction, qa
    template: str                # RULER's task template ({context}, {query}, ... placeholders)
    answer_prefix: str           # appended after the chat wrapper; the prompt ends with it
    tokens_to_generate: int
    metric: str                  # string_match_all or string_match_part
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def haystack(self) -> str | None:
        """The haystack kind (noise, essay, needle) for niah and vt; None for the others."""
        value = self.args.get("type_haystack")
        return str(value) if value is not None else None

    @property
    def needs_essays(self) -> bool:
        return self.haystack == "essay"

    @property
    def qa_dataset(self) -> str | None:
        return str(self.args["dataset"]) if self.generator == "qa" else None

    def digest(self) -> str:
        """sha256 of the definition (everything that changes the records it generates)."""
        body = {"generator": self.generator, "template": self.template, "answer_prefix": self.answer_prefix,
                "tokens_to_generate": self.tokens_to_generate, "args": dict(sorted(self.args.items()))}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _require(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise UserError("missing field", path=where, field=key)
    value = data[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise UserError(f"must be an integer, got {value!r}", path=where, field=key)
    if kind is str and not isinstance(value, str):
        raise UserError(f"must be a string, got {value!r}", path=where, field=key)
    return value


def parse_args(generator: str, raw: Any, where: str) -> dict[str, Any]:
    """The generator's arguments with RULER's defaults filled in; unknown names and bad values are errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise UserError("must be a mapping of generator arguments", path=where, field="args")
    specs = ARG_SPECS[generator]
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise UserError(f"unknown argument {unknown[0]!r} for generator {generator} (known: {', '.join(specs)})",
                        path=where, field=f"args.{unknown[0]}")
    args: dict[str, Any] = {}
    for name, (kind, allowed, default) in specs.items():
        value = raw.get(name, default)
        if value is None:
            raise UserError("missing argument", path=where, field=f"args.{name}")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise UserError(f"must be {kind.__name__}, got {value!r}", path=where, field=f"args.{name}")
        if allowed is not None and value not in allowed:
            raise UserError(f"must be one of {', '.join(map(str, allowed))}, got {value!r}", path=where,
                            field=f"args.{name}")
        if isinstance(value, int) and name.startswith(("num_", "freq_")) and value < 1:
            raise UserError(f"must be at least 1, got {value}", path=where, field=f"args.{name}")
        args[name] = value
    return args


def parse_task(data: Mapping[str, Any], where: str) -> RulerTask:
    """A RulerTask from one task file's mapping (`where` names the file in errors)."""
    generator = _require(data, "generator", str, where)
    if generator not in ARG_SPECS:
        raise UserError(f"unknown RULER generator {generator!r} (choose from {', '.join(GENERATORS)})",
                        path=where, field="generator")
    metric = _require(data, "metric", str, where)
    if metric not in METRICS:
        raise UserError(f"unknown RULER metric {metric!r} (choose from {', '.join(METRICS)})", path=where,
                        field="metric")
    tokens = _require(data, "max_new_tokens", int, where)
    if tokens < 1:
        raise UserError("must be at least 1", path=where, field="max_new_tokens")
    template = _require(data, "template", str, where)
    if "{context}" not in template:
        raise UserError("the template has no {context} placeholder", path=where, field="template")
    answer_prefix = _require(data, "answer_prefix", str, where)
    if not answer_prefix.strip():
        raise UserError("the answer prefix must not be empty (the prompt ends with it)", path=where,
                        field="answer_prefix")
    name = _require(data, "name", str, where)
    ruler_name = data.get("ruler_name", name.removeprefix("ruler_"))
    return RulerTask(name=name, ruler_name=str(ruler_name), generator=generator, template=template,
                     answer_prefix=answer_prefix, tokens_to_generate=tokens, metric=metric,
                     args=parse_args(generator, data.get("args"), where))


def load_task_file(path: Any) -> RulerTask:
    """One tasks/ruler/<task>.yaml file (a YAML error or a non-mapping is a located UserError)."""
    from pathlib import Path

    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read the task file ({str(exc).splitlines()[0]})", path=path) from None
    if not isinstance(data, Mapping):
        raise UserError("a task file must be a YAML mapping", path=path)
    return parse_task(data, str(path))


def builtin_tasks() -> dict[str, RulerTask]:
    """The 13 shipped RULER tasks by name (tasks/ruler/*.yaml)."""
    from longeval.tasks import builtin_tasks_dir

    files = sorted((builtin_tasks_dir() / "ruler").glob("ruler_*.yaml"))
    return {task.name: task for task in map(load_task_file, files)}
