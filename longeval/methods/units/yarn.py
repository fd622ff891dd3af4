"""yarn: NTK-by-parts frequencies + attention temperature a (logits scale by a^2), transformers/vLLM rope_type yarn.

Recognises the YaRN repository's configs too: `rope_scaling: {"type": "yarn", "factor": s,
"original_max_position_embeddings": L0, "finetuned": true}` with max_position_embeddings already the extended
length (L0 is then taken from the settings, not from max_position_embeddings), and DeepSeek's mscale pair.
"""

from __future__ import annotations

from typing import Any

from longeval.errors import UserError
from longeval.methods import rope as formulas
from longeval.methods.base import MethodUnit, Param, Params, factor_param, format_value, number, register

BETA_FAST = Param("beta_fast", float, 32.0, "rotations over L0 above which a dimension keeps RoPE", minimum=0.0,
                  exclusive_minimum=True)
BETA_SLOW = Param("beta_slow", float, 1.0, "rotations over L0 below which a dimension is interpolated", minimum=0.0,
                  exclusive_minimum=True)

# transformers rewrites a Phi-3 config's rope type "yarn" (and "su") to "longrope" when it reads it, so an extended
# Phi-3 checkpoint would not load as YaRN.
PHI3_YARN = "transformers reads a Phi-3 config's rope type 'yarn' as 'longrope'"


def check_betas(params: Params, context: str) -> None:
    """beta_fast must exceed beta_slow: otherwise the ramp runs backwards (fast dims interpolated, slow kept)."""
    fast, slow = number(params, "beta_fast"), number(params, "beta_slow")
    if fast <= slow:
        raise UserError(f"{context}: beta_fast ({format_value(fast)}) must be greater than beta_slow "
                        f"({format_value(slow)})")


def yarn_rope(base, params: Params, attention_factor: float) -> tuple[dict[str, Any], int]:
    factor = number(params, "factor")
    return ({"rope_type": "yarn", "rope_theta": base.theta, "factor": factor,
             "original_max_position_embeddings": base.original_max, "beta_fast": number(params, "beta_fast"),
             "beta_slow": number(params, "beta_slow"), "attention_factor": float(attention_factor)},
            int(base.original_max * factor))


def recognise_yarn(settings: dict[str, Any]) -> tuple[dict[str, Any], float | None] | None:
    """(factor/beta parameters, attention factor or None) of a yarn config, None for other types."""
    if settings["rope_type"] != "yarn":
        return None
    params = {n: settings[n] for n in ("factor", "beta_fast", "beta_slow") if settings.get(n) is not None}
    attention_factor = settings.get("attention_factor")
    if attention_factor is None and settings.get("mscale") and settings.get("mscale_all_dim"):
        attention_factor = formulas.yarn_attention_factor(float(settings.get("factor") or 1.0),
                                                          settings["mscale"], settings["mscale_all_dim"])
    return params, None if attention_factor is None else float(attention_factor)


@register
class Yarn(MethodUnit):
    name = "yarn"
    description = "NTK-by-parts + attention temperature (0.1 ln s + 1 unless attention_factor is given)"
    params = (factor_param(4.0), BETA_FAST, BETA_SLOW,
              Param("attention_factor", float, None, "cos/sin multiplier (auto: 0.1 ln factor + 1)", minimum=0.0,
                    exclusive_minimum=True))
    order = 50
    refused_families = {"phi3": PHI3_YARN}

    def check(self, params, context):
        check_betas(params, context)

    def rope(self, base, params, max_length):
        attention_factor = params.get("attention_factor")
        if attention_factor is None:
            attention_factor = formulas.yarn_attention_factor(number(params, "factor"))
        return yarn_rope(base, params, float(attention_factor))

    def recognise(self, settings, data):
        found = recognise_yarn(settings)
        if found is None:
            return None
        params, attention_factor = found
        if attention_factor == 1.0:
            return None  # ntk-by-parts
        default = formulas.yarn_attention_factor(float(params.get("factor", self.params[0].default)))
        if attention_factor is not None and abs(attention_factor - default) > 1e-12:
            params["attention_factor"] = attention_factor
        return params
