"""ntk: NTK-aware static base theta * s^(d/(d-2)), written as plain RoPE with that base."""

from __future__ import annotations

from longeval.methods import rope as formulas
from longeval.methods.base import MethodUnit, factor_param, register


@register
class NtkAware(MethodUnit):
    name = "ntk"
    description = "NTK-aware static base: theta * factor^(d/(d-2))"
    params = (factor_param(4.0),)
    aliases = ("ntk-aware",)
    order = 20

    def rope(self, base, params, max_length):
        theta = formulas.ntk_aware_theta(base.theta, base.dim, float(params["factor"]))
        return ({"rope_type": "default", "rope_theta": theta},
                max(int(base.original_max * float(params["factor"])), max_length))
    # Not recognised from a config: it is plain RoPE with another base there (longeval's provenance names it).
