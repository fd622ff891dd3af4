"""llama3: Llama-3.1's wavelength-dependent scaling (transformers/vLLM rope_type llama3)."""

from __future__ import annotations

from longeval.errors import UserError
from longeval.methods.base import MethodUnit, Param, factor_param, format_value, register


@register
class Llama3(MethodUnit):
    name = "llama3"
    description = "Llama-3.1 wavelength-dependent scaling"
    params = (factor_param(8.0),
              Param("low_freq_factor", float, 1.0, "L0/low_freq_factor: wavelength above which PI applies",
                    minimum=0.0, exclusive_minimum=True),
              Param("high_freq_factor", float, 4.0, "L0/high_freq_factor: wavelength below which RoPE is kept",
                    minimum=0.0, exclusive_minimum=True))
    order = 60

    def check(self, params, context):
        low, high = float(params["low_freq_factor"]), float(params["high_freq_factor"])
        if low >= high:  # the blend divides by (high - low): equal is a division by zero, below inverts it
            raise UserError(f"{context}: low_freq_factor ({format_value(low)}) must be below high_freq_factor "
                            f"({format_value(high)})")

    def rope(self, base, params, max_length):
        return ({"rope_type": "llama3", "rope_theta": base.theta, "factor": float(params["factor"]),
                 "original_max_position_embeddings": base.original_max,
                 "low_freq_factor": float(params["low_freq_factor"]),
                 "high_freq_factor": float(params["high_freq_factor"])},
                int(base.original_max * float(params["factor"])))

    def recognise(self, settings, data):
        if settings["rope_type"] != "llama3":
            return None
        names = ("factor", "low_freq_factor", "high_freq_factor")
        return {n: settings[n] for n in names if settings.get(n) is not None}
