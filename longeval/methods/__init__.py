"""Context-extension methods: one registry of units, selected by a spec string `NAME[:key=value,...]`.

Each method is one file under `longeval/methods/units/` (a `MethodUnit`, registered by name): its parameters, the
RoPE settings it writes (only RoPE types transformers and vLLM implement identically, so both backends build the
same model), its covered length, how it recognises itself in a checkpoint's config, and optional engine hooks
for attention changes (EABF's query scale). `Method` is a unit with resolved parameters; `config.py` is the one
reader of config.json; `length.py` the one engine-length policy; `rope.py` the formulas; `families.py` the model
families; `hf.py` / `vllm_models.py` the engine hooks.

Provenance: every override carries `longeval_method` (name, params, spec, and the original theta / max
positions, so an extended checkpoint can be re-extended or recognised by `method_from_config`).
"""

from __future__ import annotations

from longeval.methods import rope
from longeval.methods.base import (
    ALIASES,
    REGISTRY,
    UNBOUNDED,
    Method,
    MethodUnit,
    Param,
    QueryScale,
    _load_units,
    make_method,
    method_from_config,
    parse_method,
)
from longeval.methods.config import (
    KNOWN_ROPE_TYPES,
    PROVENANCE_KEY,
    QUERY_SCALE_KEY,
    BaseRope,
    base_rope,
    read_config,
    rope_settings,
)

_load_units()

from longeval.methods.units.abf import ABF_BASE  # noqa: E402  (after the units are loaded)

# A registry entry, as `longeval methods` lists it (kept as a name for callers of the old API).
MethodInfo = MethodUnit


def list_methods() -> list[MethodUnit]:
    """Every method, in listing order."""
    return list(REGISTRY.values())


__all__ = [
    "ABF_BASE", "ALIASES", "KNOWN_ROPE_TYPES", "PROVENANCE_KEY", "QUERY_SCALE_KEY", "REGISTRY", "UNBOUNDED",
    "BaseRope", "Method", "MethodInfo", "MethodUnit", "Param", "QueryScale", "base_rope", "list_methods",
    "make_method", "method_from_config", "parse_method", "read_config", "rope", "rope_settings",
]
