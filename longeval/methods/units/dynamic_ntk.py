"""dynamic-ntk: the dynamic-NTK base, evaluated once at the run's max length and run statically on both engines.

Deliberate choice: transformers re-bases the frequencies at every step from the current sequence length, which
vLLM cannot do (its rotary cache is static) and which makes cached decoding differ from a fresh forward. longeval
evaluates the dynamic formula once, at n = the run's max length, and runs that static base on both backends.
Outputs therefore match transformers' `rope_type: dynamic` only for prompts of exactly that length. A checkpoint
whose config says `dynamic` (another tool's) is recognised as this method with its factor.
"""

from __future__ import annotations

from longeval.methods import rope as formulas
from longeval.methods.base import UNBOUNDED, MethodUnit, Param, factor_param, register


@register
class DynamicNtk(MethodUnit):
    name = "dynamic-ntk"
    description = "dynamic-NTK base, evaluated once at the run's max length (static thereafter)"
    params = (factor_param(4.0),
              Param("length", int, None, "sequence length n the base is evaluated at (auto: the run's max length)",
                    minimum=1))
    aliases = ("dynamic",)
    order = 30

    def rope(self, base, params, max_length):
        n = int(params["length"]) if params.get("length") is not None else max_length
        theta = formulas.dynamic_ntk_theta(base.theta, base.dim, float(params["factor"]), base.original_max, n)
        return {"rope_type": "default", "rope_theta": theta}, max(base.original_max, max_length)

    def covered_length(self, base, params):
        return UNBOUNDED

    def bind_run_length(self, params, length):
        return {**params, "length": length} if params.get("length") is None else params

    def recognise(self, settings, data):
        if settings["rope_type"] != "dynamic":
            return None
        return {"factor": settings["factor"]} if settings.get("factor") is not None else {}
