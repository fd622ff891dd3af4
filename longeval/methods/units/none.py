"""none: the checkpoint's plain RoPE, unchanged (valid up to its max_position_embeddings)."""

from __future__ import annotations

from longeval.methods.base import MethodUnit, register
from longeval.methods.config import PROVENANCE_KEY, QUERY_SCALE_KEY
from longeval.methods.units.abf import ABF_BASE


@register
class NoneMethod(MethodUnit):
    name = "none"
    description = "plain RoPE of the checkpoint, no extension (valid up to its max_position_embeddings)"
    order = 0

    def rope(self, base, params, max_length):
        return {"rope_type": "default", "rope_theta": base.theta}, base.original_max

    def covered_length(self, base, params):
        return base.original_max

    def recognise(self, settings, data):
        # Plain RoPE at any base but ABF's: recorded as none, with the checkpoint's theta kept (run.json's
        # checkpoint RoPE says which). A default RoPE with a query scale is EABF.
        if settings["rope_type"] != "default" or data.get(QUERY_SCALE_KEY) or PROVENANCE_KEY in data:
            return None
        return None if float(settings["rope_theta"]) == ABF_BASE else {}
