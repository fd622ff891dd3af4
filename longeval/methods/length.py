"""The one engine-length policy: how many positions a run's engine serves, for the runner, both backends and
`extend`, and the one warning when a run goes past what its method covers.

`covered` is the method's RoPE coverage on the checkpoint (`Method.covered_length`); methods valid at any length
(abf, eabf, dynamic-ntk) serve the checkpoint's declared max positions when no length is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from longeval.errors import UserError
from longeval.methods.base import UNBOUNDED, Method
from longeval.methods.config import as_dict, base_rope


def default_length(method: Method, config: Mapping[str, Any] | Any) -> int:
    """Positions served when the user gives no length: the method's coverage, or for a method valid at any
    length the checkpoint's declared max positions (an extended checkpoint declares its fine-tuned length)."""
    covered = method.covered_length(config)
    if covered != UNBOUNDED:
        return covered
    data = as_dict(config)
    return max(base_rope(data).original_max, int(data.get("max_position_embeddings") or 0))


def coverage_explanation(method: Method, config: Mapping[str, Any] | Any) -> str:
    """Why the method covers what it covers, in words (for messages)."""
    original = base_rope(config).original_max
    if (factor := method.params.get("factor")) is not None:
        return f"original {original} x factor {float(factor):g}"
    return f"the model's original max positions {original}"


def extrapolation_warning(method: Method, config: Mapping[str, Any] | Any, length: int) -> str | None:
    """The warning both engines' runs give when sequences reach past the method's coverage (None when not)."""
    covered = method.covered_length(config)
    if length <= covered:
        return None
    return (f"warning: sequences of up to {length} positions exceed the {covered} that method {method.spec} "
            f"covers on this model ({coverage_explanation(method, config)}): the model runs outside its RoPE "
            "table (extrapolation)")


def plan_engine_length(method: Method, config: Mapping[str, Any], max_length: int | None,
                       max_model_len: int | None) -> int:
    """The max_model_len to build a vLLM engine with: every position the run needs.

    `max_length` is the longest sequence (prompt + new tokens) the run must serve; `max_model_len` an explicit
    engine length. Positions past the method's coverage are served (extrapolation, as transformers computes it:
    longeval sizes vLLM's rotary cache to the engine length without changing the method's frequencies).
    """
    wanted = max_model_len or max_length
    if wanted is None:
        return default_length(method, config)
    if wanted < 1:
        raise UserError(f"max length must be positive, got {wanted}")
    if max_length is not None and max_model_len is not None and max_model_len < max_length:
        raise UserError(f"max_model_len {max_model_len} is below the run's max length {max_length}: "
                        "raise max_model_len or leave it unset")
    return int(wanted)
