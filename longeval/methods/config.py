"""One reader of a checkpoint's config.json and of the RoPE settings it carries, for every part of longeval.

Configs come in three dialects that must mean the same model: transformers 5 (`rope_parameters`), the legacy
`rope_scaling` (`type` or `rope_type`) with a top-level `rope_theta`, and configs written by other tools (the YaRN
repository's `rope_scaling` with `original_max_position_embeddings`, Phi-3's `longrope`/`su`). `rope_settings`
folds them into one dict; `base_rope` extracts what a method is applied to (theta, L0, rotary dim).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.errors import UserError

DEFAULT_THETA = 10000.0
# Config key carrying EABF's query-scale settings ({"skip_layers", "original_max_position_embeddings"}).
QUERY_SCALE_KEY = "longeval_query_scale"
# Config key carrying longeval's provenance (the method, its params, the original theta and L0).
PROVENANCE_KEY = "longeval_method"
# Config key asking longeval's vLLM model wrapper for a rotary cache of that many positions (methods/vllm_models.py).
ROTARY_POSITIONS_KEY = "longeval_rotary_positions"

# RoPE types a checkpoint's config may carry that longeval reads (transformers' standard ones it maps to a method,
# and the EABF paper's legacy one).
KNOWN_ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "llama3", "eabf")
# RoPE types other tools write that no method runs, with why (a refusal names them rather than "unknown").
UNSUPPORTED_ROPE_TYPES = {
    "longrope": "Phi-3's LongRoPE switches short/long factors per sequence in transformers but once per engine in "
                "vLLM, so the two engines would run different models",
    "su": "Phi-3's 'su' is LongRoPE, which switches short/long factors per sequence in transformers but once per "
          "engine in vLLM, so the two engines would run different models",
}


def check_rope_type(rope_type: str) -> None:
    """Refuse, in one line, a RoPE type longeval cannot read."""
    if rope_type in UNSUPPORTED_ROPE_TYPES:
        raise UserError(f"RoPE type {rope_type!r} is not supported: {UNSUPPORTED_ROPE_TYPES[rope_type]}",
                        field="rope_parameters")
    if rope_type not in KNOWN_ROPE_TYPES:
        raise UserError(f"unsupported RoPE type {rope_type!r} in config (longeval handles: "
                        f"{', '.join(KNOWN_ROPE_TYPES)})", field="rope_parameters")


def read_config(model_path: str | Path) -> dict[str, Any]:
    """The checkpoint's config.json as a dict (a located UserError when missing, malformed or not an object)."""
    folder = Path(model_path)
    path = folder / "config.json"
    if folder.exists() and not folder.is_dir():
        raise UserError("not a checkpoint folder (a file; give the folder holding config.json)", path=folder)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError("no config.json here: --model must be a local checkpoint folder", path=folder) from None
    except OSError as exc:
        raise UserError(f"cannot read the model config ({exc.strerror})", path=path) from None
    return parse_config(raw, path)


def parse_config(raw: bytes, path: Path) -> dict[str, Any]:
    """config.json's bytes as a dict (callers that also hash the bytes read them once); located UserErrors."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None
    except UnicodeDecodeError:
        raise UserError("config.json is not UTF-8 text", path=path) from None
    if not isinstance(data, dict):
        raise UserError("config.json must hold a JSON object", path=path)
    return data


def as_dict(config: Mapping[str, Any] | Any) -> dict[str, Any]:
    """A config as a plain dict, whether given as a dict or a transformers PretrainedConfig."""
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise TypeError(f"expected a config dict or PretrainedConfig, got {type(config).__name__}")


def rope_settings(config: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The config's RoPE settings as one dict with `rope_type` and `rope_theta`, whichever dialect wrote them."""
    data = as_dict(config)
    settings = data.get("rope_parameters") or data.get("rope_scaling") or {}
    if not isinstance(settings, Mapping):
        raise UserError(f"config rope settings must be an object, got {settings!r}", field="rope_parameters")
    settings = dict(settings)
    if settings and all(isinstance(v, Mapping) for v in settings.values()):
        raise UserError("per-layer-type rope_parameters (e.g. Gemma3's local and global RoPE) are not supported: "
                        "longeval extends models with one RoPE for all layers", field="rope_parameters")
    settings["rope_type"] = settings.get("rope_type") or settings.get("type") or "default"
    if settings.get("rope_theta") is None:
        settings["rope_theta"] = data.get("rope_theta") or DEFAULT_THETA
    partial = settings.get("partial_rotary_factor") or data.get("partial_rotary_factor")
    if partial is not None:
        settings["partial_rotary_factor"] = float(partial)
    return settings


@dataclass(frozen=True)
class BaseRope:
    """What a method is applied to: the checkpoint's original base, max positions (L0) and rotary dim.

    `partial_rotary_factor` is kept so the extended config still rotates only that part of the head.
    """

    theta: float
    original_max: int
    dim: int
    partial_rotary_factor: float | None = None


def head_dim(data: Mapping[str, Any]) -> int:
    """The attention head size (explicit head_dim, else hidden_size / num_attention_heads)."""
    value = data.get("head_dim")
    if value:
        return int(value)
    for key in ("hidden_size", "num_attention_heads"):
        if not isinstance(data.get(key), int) or data[key] < 1:
            raise UserError("missing or not a positive integer (needed for the rotary dimension)", field=key)
    return int(data["hidden_size"]) // int(data["num_attention_heads"])


def base_rope(config: Mapping[str, Any] | Any) -> BaseRope:
    """The checkpoint's original theta, L0 and rotary dim (from longeval's provenance key when present)."""
    data = as_dict(config)
    settings = rope_settings(data)
    check_rope_type(str(settings["rope_type"]))
    provenance = data.get(PROVENANCE_KEY) or {}
    theta = provenance.get("original_rope_theta") or settings["rope_theta"]
    original_max = (provenance.get("original_max_position_embeddings")
                    or settings.get("original_max_position_embeddings")
                    or data.get("max_position_embeddings"))
    if not original_max:
        raise UserError("config has no max_position_embeddings", field="max_position_embeddings")
    partial = settings.get("partial_rotary_factor")
    dim = int(head_dim(data) * (partial or 1.0))
    return BaseRope(float(theta), int(original_max), dim, partial)


def layer_count(config: Mapping[str, Any] | Any) -> int | None:
    """The number of decoder layers the config declares (None when it does not say)."""
    value = as_dict(config).get("num_hidden_layers")
    return int(value) if isinstance(value, int) else None


def checkpoint_rope(config: Mapping[str, Any] | Any) -> dict[str, Any]:
    """What a checkpoint's own config says about RoPE (type, theta, L0, rotary dim, factor...), recorded in
    run.json next to the method, so a plain-RoPE checkpoint with a non-default theta is not read as the family
    default and another tool's settings (dynamic, YaRN repo keys) are kept as written."""
    data = as_dict(config)
    settings = rope_settings(data)
    base = base_rope(data)
    record: dict[str, Any] = {k: v for k, v in settings.items()
                              if k != "type" and isinstance(v, str | int | float | bool)}
    record.update({"rope_theta": base.theta, "original_max_position_embeddings": base.original_max,
                   "rotary_dim": base.dim, "max_position_embeddings": data.get("max_position_embeddings")})
    return record
