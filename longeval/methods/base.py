"""What a method is: a `MethodUnit` (one file under longeval/methods/units/, registered by name) and a `Method`
(a unit with its parameters resolved, the object the rest of longeval passes around).

A unit says, for one context-extension method: its parameters and their cross-checks, the RoPE settings it
writes into a checkpoint's config (`rope`), how many positions those settings cover, how it recognises itself in
a config written by longeval or another tool (`recognise`), and optional engine hooks for attention changes
(`query_scale`, EABF's). Everything generic (provenance, architecture selection, checks against the model) is
done once here in `Method.config_overrides`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from longeval.errors import UserError
from longeval.methods.config import (
    PROVENANCE_KEY,
    QUERY_SCALE_KEY,
    BaseRope,
    as_dict,
    base_rope,
    check_rope_type,
    layer_count,
    rope_settings,
)

# covered_length() of methods whose RoPE table is valid at any length (they adapt max_position_embeddings).
UNBOUNDED = sys.maxsize


def format_value(value: int | float) -> str:
    """Shortest exact text: 4.0 -> '4', 40889.94243248622 stays exact (round-trips through float())."""
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


@dataclass(frozen=True)
class Param:
    """A typed method parameter. default None means "derived" (shown as auto)."""

    name: str
    kind: type  # int or float
    default: int | float | None
    description: str
    minimum: float | None = None
    exclusive_minimum: bool = False

    def type_name(self) -> str:
        return self.kind.__name__

    def check(self, value: int | float, context: str) -> int | float:
        if self.minimum is not None:
            too_small = value <= self.minimum if self.exclusive_minimum else value < self.minimum
            if too_small:
                op = ">" if self.exclusive_minimum else ">="
                raise UserError(f"{context}: {self.name} must be {op} {format_value(self.minimum)}, got "
                                f"{format_value(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{context}: {self.name} must be a finite number, got {value}")
        if abs(value) > PARAM_MAXIMUM:  # 1e308 is finite, but the positions it covers or its RoPE base overflow
            raise UserError(f"{context}: {self.name} must be at most {PARAM_MAXIMUM:g}, got {format_value(value)}")
        return value

    def parse(self, text: str, context: str) -> int | float:
        text = text.strip()
        try:
            value: int | float = int(text) if self.kind is int else float(text)
        except ValueError:
            what = "an integer" if self.kind is int else "a number"
            raise UserError(f"{context}: {self.name} must be {what}, got {text!r}") from None
        return self.check(value, context)

    def coerce(self, value: Any, context: str) -> int | float:
        """Accept a value from a config file (JSON numbers; ints given for floats are fine)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                return self.parse(value, context)
            raise UserError(f"{context}: {self.name} must be {self.type_name()}, got {value!r}")
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise UserError(f"{context}: {self.name} must be an integer, got {value!r}")
            return self.check(int(value), context)
        return self.check(float(value), context)


# The largest value any method parameter takes (a factor of 1e12 already covers 4e15 positions of a 4k model).
PARAM_MAXIMUM = 1e12


def factor_param(default: float) -> Param:
    return Param("factor", float, default, "scale factor s = target length / original length", minimum=1.0)


@dataclass(frozen=True)
class QueryScale:
    """EABF's per-query logit multiplier t(p) = max(1, ln(p+1)/ln(L0)), applied in layers >= skip_layers.

    `original_max_position_embeddings` (L0) is bound when built from a config; `factors` can also be given L0.
    """

    skip_layers: int
    original_max_position_embeddings: int | None = None

    def applies_to(self, layer_idx: int) -> bool:
        return layer_idx >= self.skip_layers

    def factors(self, positions, original_max: int | None = None):
        """t for each (0-based) position, float64 tensor of the same shape."""
        import torch

        from longeval.methods import rope

        l0 = original_max or self.original_max_position_embeddings
        if l0 is None:
            raise ValueError("QueryScale needs the original max positions (L0)")
        return rope.eabf_query_scale(torch.as_tensor(positions), l0)

    def to_config(self) -> dict[str, int]:
        return {"skip_layers": self.skip_layers,
                "original_max_position_embeddings": int(self.original_max_position_embeddings or 0)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Any) -> QueryScale | None:
        """The query scale an (extended) config asks for, or None."""
        # Read the one key directly: this runs in every attention call, and PretrainedConfig.to_dict() is costly.
        data = config.get(QUERY_SCALE_KEY) if isinstance(config, Mapping) else getattr(config, QUERY_SCALE_KEY, None)
        if not data:
            return None
        return cls(int(data["skip_layers"]), int(data["original_max_position_embeddings"]))


Params = dict[str, int | float | None]


def number(params: Params, name: str) -> float:
    """A resolved parameter that always has a value (every one but the optional ones, e.g. attention_factor)."""
    value = params.get(name)
    if value is None:
        raise KeyError(f"parameter {name} has no value")
    return float(value)


class MethodUnit:
    """One context-extension method. Subclass in its own file under longeval/methods/units/ and decorate with
    `@register`; nothing else in longeval needs to change for a method expressible with standard RoPE types."""

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    aliases: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100  # position in `longeval methods`
    # Families (config model_type) this method cannot run on, with the reason (shown in refusals and listings).
    refused_families: ClassVar[dict[str, str]] = {}

    def check(self, params: Params, context: str) -> None:
        """Cross-parameter checks (each parameter alone is checked by its Param)."""

    def rope(self, base: BaseRope, params: Params, max_length: int) -> tuple[dict[str, Any], int]:
        """(rope_parameters, max_position_embeddings) of the extended model serving `max_length` positions."""
        raise NotImplementedError

    def covered_length(self, base: BaseRope, params: Params) -> int:
        """Positions this method's RoPE is meant for on a checkpoint with `base` (UNBOUNDED: any length)."""
        factor = params.get("factor")
        return int(base.original_max * float(factor)) if factor is not None else UNBOUNDED

    def recognise(self, settings: dict[str, Any], data: dict[str, Any]) -> Params | None:
        """The parameters when a config's RoPE settings express this method (None: not this method)."""
        return None

    def query_scale(self, params: Params) -> QueryScale | None:
        """Engine hook: a per-query logit scale after RoPE (L0 bound later from the config); None = no change."""
        return None

    def bind_run_length(self, params: Params, length: int) -> Params:
        """Parameters that depend on the run's prompt budget fixed at `length` (dynamic-ntk's n)."""
        return params


REGISTRY: dict[str, MethodUnit] = {}
ALIASES: dict[str, str] = {}


def register(cls: type[MethodUnit]) -> type[MethodUnit]:
    """Class decorator: add a unit to the registry under its name and aliases."""
    unit = cls()
    if unit.name in REGISTRY:
        raise ValueError(f"method {unit.name!r} registered twice")
    REGISTRY[unit.name] = unit
    for alias in unit.aliases:
        ALIASES[alias] = unit.name
    return cls


def _load_units() -> None:
    """Import every module under longeval/methods/units (each registers itself), then order the registry."""
    import importlib
    import pkgutil

    from longeval.methods import units

    for module in pkgutil.iter_modules(units.__path__):
        importlib.import_module(f"{units.__name__}.{module.name}")
    ordered = sorted(REGISTRY.values(), key=lambda u: (u.order, u.name))
    REGISTRY.clear()
    REGISTRY.update({u.name: u for u in ordered})


@dataclass(frozen=True)
class Method:
    """A method with all parameters resolved. Build with parse_method / make_method / method_from_config."""

    name: str
    params: Params = field(default_factory=dict)

    @property
    def info(self) -> MethodUnit:
        return REGISTRY[self.name]

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def spec(self) -> str:
        """Canonical spec: the name plus the parameters that differ from their defaults, in declared order."""
        parts = [f"{p.name}={format_value(value)}" for p in self.info.params
                 if (value := self.params.get(p.name)) is not None and value != p.default]
        return self.name + (":" + ",".join(parts) if parts else "")

    def __str__(self) -> str:
        return self.spec

    @property
    def query_scale(self) -> QueryScale | None:
        """The method's query scale (L0 unbound: it comes from the config); None for methods without one."""
        return self.info.query_scale(self.params)

    def for_run_length(self, length: int) -> Method:
        """This method with its run-length-dependent parameters fixed at `length` (the run's prompt budget).

        Only dynamic-ntk has one (the n of its base). Fixing it from the user's max length, not from the engine's
        sequence length (which also counts the tasks' answer tokens), keeps the model the same whichever tasks
        a run holds, and records the base actually used in run.json.
        """
        bound = self.info.bind_run_length(self.params, int(length))
        return self if bound == self.params else Method(self.name, bound)

    def covered_length(self, config: Mapping[str, Any] | Any) -> int:
        """Positions the method's RoPE is valid for on this checkpoint (UNBOUNDED when it adapts to any length)."""
        return self.info.covered_length(base_rope(config), self.params)

    def check_model(self, config: Mapping[str, Any] | Any) -> None:
        """Refuse parameters or families this model cannot take (one line naming the combination)."""
        from longeval.methods.families import family_of

        data = as_dict(config)
        family = family_of(data)
        if family is not None and family.model_type in self.info.refused_families:
            raise UserError(f"method {self.spec} is not supported on {family.name} models "
                            f"({self.info.refused_families[family.model_type]})")
        scale = self.query_scale
        layers = layer_count(data)
        if scale is not None and layers is not None and scale.skip_layers >= layers:
            raise UserError(f"method {self.spec}: skip_layers {scale.skip_layers} leaves none of this model's "
                            f"{layers} layers scaled (it must be below {layers}; use abf for no query scale)")

    def config_overrides(self, config: Mapping[str, Any] | Any, max_length: int) -> dict[str, Any]:
        """Top-level config.json keys that make transformers and vLLM build the extended model.

        `max_length` is the longest context (prompt + generation) the extended model must serve.
        """
        from longeval.methods.families import base_architecture, engine_architecture, family_of

        if int(max_length) < 1:
            raise UserError(f"max length must be positive, got {max_length}")
        data = as_dict(config)
        self.check_model(data)
        base = base_rope(data)
        rope_parameters, max_positions = self.info.rope(base, self.params, int(max_length))
        if base.partial_rotary_factor is not None:  # transformers 5 reads it from rope_parameters
            rope_parameters["partial_rotary_factor"] = base.partial_rotary_factor
        scale = self.query_scale
        overrides: dict[str, Any] = {
            "rope_parameters": rope_parameters,
            "max_position_embeddings": max_positions,
            # None clears a query scale the checkpoint carries (another method on an EABF checkpoint).
            QUERY_SCALE_KEY: (QueryScale(scale.skip_layers, base.original_max).to_config()
                              if scale is not None else None),
            PROVENANCE_KEY: {"name": self.name, "params": dict(self.params), "spec": self.spec,
                             "original_max_position_embeddings": base.original_max,
                             "original_rope_theta": base.theta},
        }
        # vLLM runs an attention hook through longeval's wrapper of the model class (transformers ignores the
        # field): select it, or undo it on a checkpoint that carries it.
        architectures = data.get("architectures") or []
        if scale is not None:
            if not architectures:  # a config without model_type is read as Llama, as transformers' default
                family = family_of({"model_type": "llama", **data})
                if family is None:
                    raise UserError(f"method {self.spec} needs the config's 'architectures' (vLLM runs its query "
                                    "scale in longeval's wrapper of that model class)", field="architectures")
                architectures = [family.architecture]
            overrides["architectures"] = [engine_architecture(a) for a in architectures]
        elif any(base_architecture(a) != a for a in architectures):
            overrides["architectures"] = [base_architecture(a) for a in architectures]
        return overrides


def make_method(name: str, params: Mapping[str, Any] | None = None, *, context: str | None = None) -> Method:
    """A Method from a name and (possibly partial) parameters; defaults filled in, values checked."""
    canonical = ALIASES.get(name, name)
    context = context or name
    if canonical not in REGISTRY:
        raise UserError(f"unknown method {name!r} (known: {', '.join(REGISTRY)})")
    unit = REGISTRY[canonical]
    known = {p.name: p for p in unit.params}
    resolved: Params = {p.name: p.default for p in unit.params}
    for key, value in (params or {}).items():
        if key not in known:
            listing = ", ".join(known) if known else "none"
            raise UserError(f"{context}: method {canonical!r} has no parameter {key!r} (parameters: {listing})")
        resolved[key] = None if value is None and known[key].default is None else known[key].coerce(value, context)
    unit.check(resolved, context)
    return Method(canonical, resolved)


def parse_method(spec: str) -> Method:
    """Parse `NAME[:key=value,...]` (e.g. `yarn:factor=8`, `eabf:skip_layers=0`)."""
    text = (spec or "").strip()
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if not name:
        raise UserError(f"bad method spec {spec!r}: expected NAME[:key=value,...]")
    context = f"method spec {text!r}"
    if name not in REGISTRY and name not in ALIASES:
        raise UserError(f"{context}: unknown method {name!r} (known: {', '.join(REGISTRY)})")
    unit = REGISTRY[ALIASES.get(name, name)]
    known = {p.name: p for p in unit.params}
    values: dict[str, int | float] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key or not value.strip():
                raise UserError(f"{context}: expected key=value, got {item.strip()!r}")
            if key not in known:
                listing = ", ".join(known) if known else "none"
                raise UserError(f"{context}: method {unit.name!r} has no parameter {key!r} (parameters: {listing})")
            if key in values:
                raise UserError(f"{context}: parameter {key!r} given twice")
            values[key] = known[key].parse(value, context)
    elif rest or text.endswith(":"):
        raise UserError(f"{context}: expected key=value after ':'")
    return make_method(unit.name, values, context=context)


def method_from_config(config: Mapping[str, Any] | Any) -> Method:
    """The method a checkpoint's config carries: longeval's own provenance key, or what its RoPE settings express
    (each unit's `recognise`; exactly one unit claims a config)."""
    data = as_dict(config)
    provenance = data.get(PROVENANCE_KEY)
    if provenance:
        return make_method(provenance["name"], provenance.get("params") or {}, context=f"config {PROVENANCE_KEY}")
    settings = rope_settings(data)
    rope_type = str(settings["rope_type"])
    context = f"config rope type {rope_type!r}"
    for unit in REGISTRY.values():
        params = unit.recognise(settings, data)
        if params is not None:
            return make_method(unit.name, params, context=context)
    check_rope_type(rope_type)
    raise UserError(f"RoPE settings {settings!r} express no method longeval knows", field="rope_parameters")
