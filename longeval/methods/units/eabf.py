"""eabf: entropy-aware ABF (arXiv:2401.07004): ABF's RoPE plus a per-query logit scale after RoPE.

t(p) = max(1, ln(p+1)/ln(L0)) multiplies the query of position p in layers >= skip_layers (2 in the paper, 0 in
the released code, whose layer-skipping patch is a no-op). The scale is this unit's engine hook (`query_scale`):
transformers runs it in longeval's attention function, vLLM in longeval's wrapper of the model class, both
generic over model families. Recognises the paper loader's legacy `rope_scaling: {"type": "eabf", "factor": 4}`
as base 500000 whatever the config's theta says, since the released code hard-codes it.
"""

from __future__ import annotations

from longeval.methods.base import UNBOUNDED, MethodUnit, Param, QueryScale, register
from longeval.methods.config import PROVENANCE_KEY, QUERY_SCALE_KEY
from longeval.methods.units.abf import ABF_BASE, BASE

SKIP_LAYERS = Param("skip_layers", int, 2, "layers left unscaled (2 = paper, 0 = released code)", minimum=0)


@register
class Eabf(MethodUnit):
    name = "eabf"
    description = "entropy-aware ABF: ABF + query scale max(1, ln(p+1)/ln L0) in layers >= skip_layers"
    params = (BASE, SKIP_LAYERS)
    order = 80

    def rope(self, base, params, max_length):
        return {"rope_type": "default", "rope_theta": float(params["base"])}, max(base.original_max, max_length)

    def covered_length(self, base, params):
        return UNBOUNDED

    def query_scale(self, params):
        return QueryScale(int(params["skip_layers"]))

    def recognise(self, settings, data):
        if PROVENANCE_KEY in data:
            return None
        scale = data.get(QUERY_SCALE_KEY)
        skip = scale["skip_layers"] if scale else SKIP_LAYERS.default
        if settings["rope_type"] == "eabf":
            return {"base": ABF_BASE, "skip_layers": skip}
        if settings["rope_type"] == "default" and scale:
            return {"base": float(settings["rope_theta"]), "skip_layers": skip}
        return None
