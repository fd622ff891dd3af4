"""pi: position interpolation, positions divided by the factor (transformers/vLLM rope_type linear)."""

from __future__ import annotations

from longeval.methods.base import MethodUnit, factor_param, register


@register
class PositionInterpolation(MethodUnit):
    name = "pi"
    description = "position interpolation: positions divided by factor (rope_type linear)"
    params = (factor_param(4.0),)
    aliases = ("linear",)
    order = 10

    def rope(self, base, params, max_length):
        # vLLM sizes the linear cache (and derives max_model_len) as max_position_embeddings * factor.
        return {"rope_type": "linear", "rope_theta": base.theta, "factor": float(params["factor"])}, base.original_max

    def recognise(self, settings, data):
        if settings["rope_type"] != "linear":
            return None
        return {"factor": settings["factor"]} if settings.get("factor") is not None else {}
