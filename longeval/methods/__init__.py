"""Context-extension methods: one registry, selected by a spec string `NAME[:key=value,...]`.

A `Method` turns a checkpoint's config into the config of the extended model (`config_overrides`), using only
RoPE types that transformers and vLLM implement identically, so both backends build the same model:

    none          default RoPE, unchanged
    pi            linear (positions / s)
    ntk           default with theta' = theta * s^(d/(d-2))
    dynamic-ntk   default with the dynamic-NTK base evaluated once at the run's max length (see below)
    ntk-by-parts  yarn with attention_factor 1
    yarn          yarn with an explicit attention_factor (0.1 ln s + 1 unless given)
    llama3        llama3
    abf           default with theta = base (500000)
    eabf          abf + a per-query logit scale in layers >= skip_layers (config key `longeval_query_scale`)

Deliberate choice for dynamic-ntk: transformers re-bases the frequencies at every step from the current sequence
length, which vLLM cannot do (its rotary cache is static) and which makes cached decoding differ from a fresh
forward. longeval evaluates the dynamic formula once, at n = the run's max length, and runs that static base on
both backends. Outputs therefore match HF's `rope_type: dynamic` only for prompts of exactly max length.

Formulas: `longeval.methods.rope`. Provenance: every override carries `longeval_method` (name, params, spec, and
the original theta / max positions, so an extended checkpoint can be re-extended or recognised by
`method_from_config`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from longeval.errors import UserError
from longeval.methods import rope
from longeval.methods.vllm_plugin import EABF_ARCHITECTURE

# covered_length() of methods whose RoPE table is valid at any length (they adapt max_position_embeddings).
UNBOUNDED = sys.maxsize

ABF_BASE = 500000.0

# Config key carrying EABF's query-scale settings ({"skip_layers", "original_max_position_embeddings"}).
QUERY_SCALE_KEY = "longeval_query_scale"

# RoPE types a checkpoint's config may carry (transformers' standard ones longeval maps, and the paper's legacy one).
KNOWN_ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "llama3", "eabf")


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
                raise UserError(f"{context}: {self.name} must be {op} {_format_value(self.minimum)}, got "
                                f"{_format_value(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{context}: {self.name} must be a finite number, got {value}")
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


@dataclass(frozen=True)
class MethodInfo:
    """A registry entry: what `longeval methods` lists."""

    name: str
    description: str
    params: tuple[Param, ...] = ()


def _factor(default: float) -> Param:
    return Param("factor", float, default, "scale factor s = target length / original length", minimum=1.0)


_BETA_FAST = Param("beta_fast", float, 32.0, "rotations over L0 above which a dimension keeps RoPE", minimum=0.0,
                   exclusive_minimum=True)
_BETA_SLOW = Param("beta_slow", float, 1.0, "rotations over L0 below which a dimension is interpolated", minimum=0.0,
                   exclusive_minimum=True)
_BASE = Param("base", float, ABF_BASE, "RoPE base frequency theta", minimum=0.0, exclusive_minimum=True)

REGISTRY: dict[str, MethodInfo] = {info.name: info for info in [
    MethodInfo("none", "plain RoPE of the checkpoint, no extension (valid up to its max_position_embeddings)"),
    MethodInfo("pi", "position interpolation: positions divided by factor (rope_type linear)", (_factor(4.0),)),
    MethodInfo("ntk", "NTK-aware static base: theta * factor^(d/(d-2))", (_factor(4.0),)),
    MethodInfo("dynamic-ntk", "dynamic-NTK base, evaluated once at the run's max length (static thereafter)",
               (_factor(4.0),
                Param("length", int, None, "sequence length n the base is evaluated at (auto: the run's max length)",
                      minimum=1))),
    MethodInfo("ntk-by-parts", "YaRN's frequency ramp without attention temperature",
               (_factor(4.0), _BETA_FAST, _BETA_SLOW)),
    MethodInfo("yarn", "NTK-by-parts + attention temperature (0.1 ln s + 1 unless attention_factor is given)",
               (_factor(4.0), _BETA_FAST, _BETA_SLOW,
                Param("attention_factor", float, None, "cos/sin multiplier (auto: 0.1 ln factor + 1)", minimum=0.0,
                      exclusive_minimum=True))),
    MethodInfo("llama3", "Llama-3.1 wavelength-dependent scaling",
               (_factor(8.0),
                Param("low_freq_factor", float, 1.0, "L0/low_freq_factor: wavelength above which PI applies",
                      minimum=0.0, exclusive_minimum=True),
                Param("high_freq_factor", float, 4.0, "L0/high_freq_factor: wavelength below which RoPE is kept",
                      minimum=0.0, exclusive_minimum=True))),
    MethodInfo("abf", "adjusted base frequency: plain RoPE with a larger base", (_BASE,)),
    MethodInfo("eabf", "entropy-aware ABF: ABF + query scale max(1, ln(p+1)/ln L0) in layers >= skip_layers",
               (_BASE, Param("skip_layers", int, 2, "layers left unscaled (2 = paper, 0 = released code)",
                             minimum=0))),
]}

ALIASES = {"linear": "pi", "dynamic": "dynamic-ntk", "ntk-aware": "ntk", "by-parts": "ntk-by-parts"}


def list_methods() -> list[MethodInfo]:
    """Every method, in registry order."""
    return list(REGISTRY.values())


def _format_value(value: int | float) -> str:
    """Shortest exact text: 4.0 -> '4', 40889.94243248622 stays exact (round-trips through float())."""
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


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


@dataclass(frozen=True)
class BaseRope:
    """What a method is applied to: the checkpoint's original base, max positions (L0) and rotary dim."""

    theta: float
    original_max: int
    dim: int


@dataclass(frozen=True)
class Method:
    """A method with all parameters resolved. Build with parse_method / make_method / method_from_config."""

    name: str
    params: dict[str, int | float | None] = field(default_factory=dict)

    @property
    def info(self) -> MethodInfo:
        return REGISTRY[self.name]

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def spec(self) -> str:
        """Canonical spec: the name plus the parameters that differ from their defaults, in declared order."""
        parts = [f"{p.name}={_format_value(self.params[p.name])}" for p in self.info.params
                 if self.params.get(p.name) is not None and self.params[p.name] != p.default]
        return self.name + (":" + ",".join(parts) if parts else "")

    def __str__(self) -> str:
        return self.spec

    @property
    def query_scale(self) -> QueryScale | None:
        """EABF's query scale (L0 unbound: it comes from the config); None for every other method."""
        if self.name != "eabf":
            return None
        return QueryScale(int(self.params["skip_layers"]))

    def for_run_length(self, length: int) -> Method:
        """This method with its run-length-dependent parameters fixed at `length` (the run's prompt budget).

        Only dynamic-ntk has one (the n of its base). Fixing it from the user's max length, not from the engine's
        sequence length (which also counts the tasks' answer tokens), keeps the model the same whichever tasks
        a run holds, and records the base actually used in run.json.
        """
        if self.name == "dynamic-ntk" and self.params.get("length") is None:
            return Method(self.name, {**self.params, "length": int(length)})
        return self

    def covered_length(self, config: Mapping[str, Any] | Any) -> int:
        """Positions the method's RoPE is valid for on this checkpoint (UNBOUNDED when it adapts to any length)."""
        base = base_rope(config)
        if self.name == "none":
            return base.original_max
        if self.name in ("abf", "eabf", "dynamic-ntk"):
            return UNBOUNDED
        return int(base.original_max * float(self.params["factor"]))

    def config_overrides(self, config: Mapping[str, Any] | Any, max_length: int) -> dict[str, Any]:
        """Top-level config.json keys that make transformers and vLLM build the extended model.

        `max_length` is the longest context (prompt + generation) the extended model must serve.
        """
        if int(max_length) < 1:
            raise UserError(f"max length must be positive, got {max_length}")
        max_length = int(max_length)
        base = base_rope(config)
        p = self.params
        l0 = base.original_max
        rope_parameters: dict[str, Any]
        if self.name == "none":
            rope_parameters = {"rope_type": "default", "rope_theta": base.theta}
            max_positions = l0
        elif self.name in ("abf", "eabf"):
            rope_parameters = {"rope_type": "default", "rope_theta": float(p["base"])}
            max_positions = max(l0, max_length)
        elif self.name == "ntk":
            theta = rope.ntk_aware_theta(base.theta, base.dim, float(p["factor"]))
            rope_parameters = {"rope_type": "default", "rope_theta": theta}
            max_positions = max(int(l0 * float(p["factor"])), max_length)
        elif self.name == "dynamic-ntk":
            n = int(p["length"]) if p.get("length") is not None else max_length
            theta = rope.dynamic_ntk_theta(base.theta, base.dim, float(p["factor"]), l0, n)
            rope_parameters = {"rope_type": "default", "rope_theta": theta}
            max_positions = max(l0, max_length)
        elif self.name == "pi":
            # vLLM sizes the linear cache (and derives max_model_len) as max_position_embeddings * factor.
            rope_parameters = {"rope_type": "linear", "rope_theta": base.theta, "factor": float(p["factor"])}
            max_positions = l0
        elif self.name in ("yarn", "ntk-by-parts"):
            factor = float(p["factor"])
            attention_factor = 1.0 if self.name == "ntk-by-parts" else p.get("attention_factor")
            if attention_factor is None:
                attention_factor = rope.yarn_attention_factor(factor)
            rope_parameters = {"rope_type": "yarn", "rope_theta": base.theta, "factor": factor,
                               "original_max_position_embeddings": l0, "beta_fast": float(p["beta_fast"]),
                               "beta_slow": float(p["beta_slow"]), "attention_factor": float(attention_factor)}
            max_positions = int(l0 * factor)
        elif self.name == "llama3":
            rope_parameters = {"rope_type": "llama3", "rope_theta": base.theta, "factor": float(p["factor"]),
                               "original_max_position_embeddings": l0,
                               "low_freq_factor": float(p["low_freq_factor"]),
                               "high_freq_factor": float(p["high_freq_factor"])}
            max_positions = int(l0 * float(p["factor"]))
        else:  # pragma: no cover - the registry and this dispatch are kept in step by tests
            raise AssertionError(self.name)
        query_scale = self.query_scale
        overrides: dict[str, Any] = {
            "rope_parameters": rope_parameters,
            "max_position_embeddings": max_positions,
            # None clears a query scale the checkpoint carries (another method on an EABF checkpoint).
            QUERY_SCALE_KEY: (QueryScale(query_scale.skip_layers, l0).to_config()
                              if query_scale is not None else None),
            "longeval_method": {"name": self.name, "params": dict(self.params), "spec": self.spec,
                                "original_max_position_embeddings": l0, "original_rope_theta": base.theta},
        }
        # vLLM builds EABF with longeval's model class (transformers ignores the field): select it, or undo it.
        if query_scale is not None:
            overrides["architectures"] = [EABF_ARCHITECTURE]
        elif _as_dict(config).get("architectures") == [EABF_ARCHITECTURE]:
            overrides["architectures"] = ["LlamaForCausalLM"]
        return overrides


def make_method(name: str, params: Mapping[str, Any] | None = None, *, context: str | None = None) -> Method:
    """A Method from a name and (possibly partial) parameters; defaults filled in, values checked."""
    canonical = ALIASES.get(name, name)
    context = context or name
    if canonical not in REGISTRY:
        raise UserError(f"unknown method {name!r} (known: {', '.join(REGISTRY)})")
    info = REGISTRY[canonical]
    known = {p.name: p for p in info.params}
    resolved: dict[str, int | float | None] = {p.name: p.default for p in info.params}
    for key, value in (params or {}).items():
        if key not in known:
            listing = ", ".join(known) if known else "none"
            raise UserError(f"{context}: method {canonical!r} has no parameter {key!r} (parameters: {listing})")
        resolved[key] = None if value is None and known[key].default is None else known[key].coerce(value, context)
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
    info = REGISTRY[ALIASES.get(name, name)]
    known = {p.name: p for p in info.params}
    values: dict[str, int | float] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key or not value.strip():
                raise UserError(f"{context}: expected key=value, got {item.strip()!r}")
            if key not in known:
                listing = ", ".join(known) if known else "none"
                raise UserError(f"{context}: method {info.name!r} has no parameter {key!r} (parameters: {listing})")
            if key in values:
                raise UserError(f"{context}: parameter {key!r} given twice")
            values[key] = known[key].parse(value, context)
    elif rest or text.endswith(":"):
        raise UserError(f"{context}: expected key=value after ':'")
    return make_method(info.name, values, context=context)


def _as_dict(config: Mapping[str, Any] | Any) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise TypeError(f"expected a config dict or PretrainedConfig, got {type(config).__name__}")


def rope_settings(config: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The config's RoPE settings as one dict with `rope_type` and `rope_theta`, whether it is written in
    transformers 5's `rope_parameters` or the legacy `rope_scaling` (`type` or `rope_type`) + `rope_theta`."""
    data = _as_dict(config)
    settings = data.get("rope_parameters") or data.get("rope_scaling") or {}
    if not isinstance(settings, Mapping):
        raise UserError(f"config rope settings must be an object, got {settings!r}", field="rope_parameters")
    settings = dict(settings)
    if settings and all(isinstance(v, Mapping) for v in settings.values()):
        raise UserError("per-layer-type rope_parameters are not supported (only single-RoPE Llama-style models)",
                        field="rope_parameters")
    settings["rope_type"] = settings.get("rope_type") or settings.get("type") or "default"
    if settings.get("rope_theta") is None:
        settings["rope_theta"] = data.get("rope_theta", 10000.0)
    return settings


def base_rope(config: Mapping[str, Any] | Any) -> BaseRope:
    """The checkpoint's original theta, L0 and rotary dim (from longeval's provenance key when present)."""
    data = _as_dict(config)
    settings = rope_settings(data)
    if settings["rope_type"] not in KNOWN_ROPE_TYPES:
        raise UserError(f"unsupported RoPE type {settings['rope_type']!r} in config (longeval handles: "
                        f"{', '.join(KNOWN_ROPE_TYPES)})", field="rope_parameters")
    provenance = data.get("longeval_method") or {}
    theta = provenance.get("original_rope_theta") or settings["rope_theta"]
    original_max = (provenance.get("original_max_position_embeddings")
                    or settings.get("original_max_position_embeddings")
                    or data.get("max_position_embeddings"))
    if not original_max:
        raise UserError("config has no max_position_embeddings", field="max_position_embeddings")
    head_dim = data.get("head_dim")
    if not head_dim:
        for key in ("hidden_size", "num_attention_heads"):
            if not isinstance(data.get(key), int) or data[key] < 1:
                raise UserError("missing or not a positive integer (needed for the rotary dimension)", field=key)
        head_dim = data["hidden_size"] // data["num_attention_heads"]
    dim = int(head_dim * float(settings.get("partial_rotary_factor") or data.get("partial_rotary_factor") or 1.0))
    return BaseRope(float(theta), int(original_max), dim)


def method_from_config(config: Mapping[str, Any] | Any) -> Method:
    """The method a checkpoint's config carries: longeval's own key, or what its RoPE settings express.

    `rope_type` default -> none (abf when theta is 500000); linear -> pi; dynamic -> dynamic-ntk; yarn -> yarn
    (ntk-by-parts when attention_factor is 1); llama3 -> llama3; legacy `eabf` (the paper's loader) -> eabf with
    base 500000 whatever the config's theta says, since the released code hard-codes it.
    """
    data = _as_dict(config)
    provenance = data.get("longeval_method")
    if provenance:
        return make_method(provenance["name"], provenance.get("params") or {}, context="config longeval_method")
    settings = rope_settings(data)
    rope_type = str(settings["rope_type"])
    context = f"config rope type {rope_type!r}"

    def pick(*names: str) -> dict[str, Any]:
        return {n: settings[n] for n in names if settings.get(n) is not None}

    query_scale = data.get(QUERY_SCALE_KEY)
    if rope_type == "default":
        theta = float(settings["rope_theta"])
        if query_scale:
            return make_method("eabf", {"base": theta, "skip_layers": query_scale["skip_layers"]}, context=context)
        return make_method("abf", {"base": theta}, context=context) if theta == ABF_BASE else make_method("none")
    if rope_type == "eabf":
        skip = query_scale["skip_layers"] if query_scale else REGISTRY["eabf"].params[1].default
        return make_method("eabf", {"base": ABF_BASE, "skip_layers": skip}, context=context)
    if rope_type == "linear":
        return make_method("pi", pick("factor"), context=context)
    if rope_type == "dynamic":
        return make_method("dynamic-ntk", pick("factor"), context=context)
    if rope_type == "llama3":
        return make_method("llama3", pick("factor", "low_freq_factor", "high_freq_factor"), context=context)
    if rope_type == "yarn":
        params = pick("factor", "beta_fast", "beta_slow")
        attention_factor = settings.get("attention_factor")
        if attention_factor is None and settings.get("mscale") and settings.get("mscale_all_dim"):
            attention_factor = rope.yarn_attention_factor(float(settings.get("factor") or 1.0),
                                                          settings["mscale"], settings["mscale_all_dim"])
        if attention_factor is not None and float(attention_factor) == 1.0:
            return make_method("ntk-by-parts", params, context=context)
        default_factor = rope.yarn_attention_factor(float(params.get("factor", REGISTRY["yarn"].params[0].default)))
        if attention_factor is not None and abs(float(attention_factor) - default_factor) > 1e-12:
            params["attention_factor"] = attention_factor
        return make_method("yarn", params, context=context)
    raise UserError(f"unsupported RoPE type {rope_type!r} in config (longeval handles: "
                    f"{', '.join(KNOWN_ROPE_TYPES)})", field="rope_parameters")


__all__ = [
    "ABF_BASE", "UNBOUNDED", "BaseRope", "Method", "MethodInfo", "Param", "QueryScale", "base_rope",
    "list_methods", "make_method", "method_from_config", "parse_method", "rope_settings",
]
