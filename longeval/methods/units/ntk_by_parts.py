"""ntk-by-parts: YaRN's frequency ramp without its attention temperature (yarn with attention_factor 1)."""

from __future__ import annotations

from longeval.methods.base import MethodUnit, factor_param, register
from longeval.methods.units.yarn import BETA_FAST, BETA_SLOW, PHI3_YARN, check_betas, recognise_yarn, yarn_rope


@register
class NtkByParts(MethodUnit):
    name = "ntk-by-parts"
    description = "YaRN's frequency ramp without attention temperature"
    params = (factor_param(4.0), BETA_FAST, BETA_SLOW)
    aliases = ("by-parts",)
    order = 40
    refused_families = {"phi3": PHI3_YARN}

    def check(self, params, context):
        check_betas(params, context)

    def rope(self, base, params, max_length):
        return yarn_rope(base, params, 1.0)

    def recognise(self, settings, data):
        found = recognise_yarn(settings)
        if found is None:
            return None
        params, attention_factor = found
        return params if attention_factor is not None and attention_factor == 1.0 else None
