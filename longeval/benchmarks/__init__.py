"""Benchmark families, one registry of units (see base.py for the protocol each unit implements).

Built-in families are the subpackages (or modules) of this package, each registering its unit on import, as
`methods/units/` does: adding a family is adding a folder here plus its YAML under tasks/<family>/. Installed
distributions add families through the entry-point group `longeval.benchmarks` (value `module:Class`, the
class a `Benchmark` subclass); their task YAML comes through --tasks-path or LONGEVAL_TASKS_PATH.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from importlib import metadata
from typing import TYPE_CHECKING, Any

from longeval.benchmarks.base import Benchmark, KeySpec, ReportSection, RunView
from longeval.errors import UserError

if TYPE_CHECKING:
    from longeval.tasks import Task

__all__ = ["ENTRY_POINT_GROUP", "Benchmark", "KeySpec", "ReportSection", "RunView", "add_option_flags",
           "all_benchmarks", "benchmark_of", "default_benchmark", "get_benchmark", "option_flags", "register",
           "result_buckets", "result_details"]

ENTRY_POINT_GROUP = "longeval.benchmarks"

_REGISTRY: dict[str, Benchmark] = {}
_loaded = False


def register(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator: add a family's unit to the registry (one instance per family)."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} has no `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and type(existing) is not cls:
        raise TypeError(f"benchmark '{cls.name}' is registered twice ({type(existing).__module__} and "
                        f"{cls.__module__})")
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> None:
    """Import every built-in family, then the installed plugins (each once, in a stable order)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module(__name__)
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            loaded = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not a traceback
            raise UserError(f"cannot load benchmark plugin '{entry.name}' ({entry.value}): "
                            f"{type(exc).__name__}: {exc}") from None
        if not (isinstance(loaded, type) and issubclass(loaded, Benchmark)):
            raise UserError(f"benchmark plugin '{entry.name}' ({entry.value}) is not a Benchmark subclass")
        if loaded.name not in _REGISTRY:
            register(loaded)


def all_benchmarks() -> dict[str, Benchmark]:
    """Every registered family by name: built-ins by name, then plugins by name (whatever order they were
    imported in, so that report columns and messages do not depend on it)."""
    _load()

    def rank(unit: Benchmark) -> tuple[bool, str]:
        return (not type(unit).__module__.startswith(f"{__name__}."), unit.name)

    return {unit.name: unit for unit in sorted(_REGISTRY.values(), key=rank)}


def get_benchmark(name: str) -> Benchmark:
    """The unit of family `name`; an unknown name is a UserError listing the known ones."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown benchmark '{name}' (known: {', '.join(_REGISTRY)})") from None


def result_buckets() -> tuple[str, ...]:
    """Every bucket name a family's result.json entries may hold, families in registry order."""
    return tuple(dict.fromkeys(bucket for unit in all_benchmarks().values() for bucket in unit.result_buckets))


def result_details() -> tuple[str, ...]:
    """Every key a family's dict-valued result.json entries use for details rather than scores."""
    return tuple(dict.fromkeys(key for unit in all_benchmarks().values() for key in unit.result_details))


def default_benchmark() -> Benchmark:
    """The family of task files that name none (written before families existed)."""
    _load()
    for unit in all_benchmarks().values():
        if unit.default_for_untagged:
            return unit
    raise UserError("no benchmark takes task files without a `benchmark:` key")


def benchmark_of(task: Task) -> Benchmark:
    """The unit a task belongs to."""
    return get_benchmark(task.benchmark)



def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`--option KEY=VALUE` pairs: the value read as a YAML scalar (8 -> 8, true -> True, text stays text)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option takes KEY=VALUE, got '{pair}'", field="--option")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        out[key.strip()] = value if isinstance(value, str | int | float | bool) else text
    return out


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """Each family's options (`Benchmark.options`) also as a flag of its own: `ruler_essays` -> --ruler-essays,
    the same as --option ruler_essays=VALUE. One argument group per family that has any."""
    for unit in all_benchmarks().values():
        if unit.options:
            group = parser.add_argument_group(f"{unit.title or unit.name} options (or --option KEY=VALUE)")
            for key, spec in unit.options.items():
                group.add_argument("--" + key.replace("_", "-"), dest=f"option__{key}", metavar="VALUE",
                                   help=spec.description)


def option_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The family options given as their own flags, read as --option reads a value (a YAML scalar)."""
    given = [f"{key.removeprefix('option__')}={value}" for key, value in vars(args).items()
             if key.startswith("option__") and value is not None]
    return parse_options(given)
