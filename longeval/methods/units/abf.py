"""abf: adjusted base frequency, plain RoPE with a larger base (Xiong et al. 2023; 500000 as in the EABF paper)."""

from __future__ import annotations

from longeval.methods.base import UNBOUNDED, MethodUnit, Param, register
from longeval.methods.config import PROVENANCE_KEY, QUERY_SCALE_KEY

ABF_BASE = 500000.0
BASE = Param("base", float, ABF_BASE, "RoPE base frequency theta", minimum=0.0, exclusive_minimum=True)


@register
class Abf(MethodUnit):
    name = "abf"
    description = "adjusted base frequency: plain RoPE with a larger base"
    params = (BASE,)
    order = 70

    def rope(self, base, params, max_length):
        return {"rope_type": "default", "rope_theta": float(params["base"])}, max(base.original_max, max_length)

    def covered_length(self, base, params):
        return UNBOUNDED

    def recognise(self, settings, data):
        if settings["rope_type"] != "default" or data.get(QUERY_SCALE_KEY) or PROVENANCE_KEY in data:
            return None
        return {"base": ABF_BASE} if float(settings["rope_theta"]) == ABF_BASE else None
