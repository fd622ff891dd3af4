"""longeval's engine hooks in transformers 5.x (rope init registry + attention/mask interfaces), generic over
model families.

Every method except EABF is expressed with standard rope types (see the units' `rope`), so transformers needs
nothing extra for them. Two registrations remain:

- rope type "eabf": checkpoints saved by the paper's loader carry `rope_scaling: {"type": "eabf", "factor": 4}`.
  Without an init function transformers fails with KeyError; a naive one would use the config's base 10000.
  Ours forces base 500000, as the released code hard-codes it (the factor is ignored there too).
- attention "longeval_eabf" (SDPA) and "longeval_eabf_eager" (the model family's own eager attention, for
  families with logit soft-capping, which SDPA cannot do): scale the post-RoPE query by t(p) in layers >=
  skip_layers, then attend as the model would. Their mask functions must be registered as well: transformers
  builds no mask at all for attention implementations unknown to the mask registry, and attention would then
  silently ignore padding.
"""

from __future__ import annotations

import sys

from longeval.methods.base import QueryScale
from longeval.methods.rope import eabf_query_scale
from longeval.methods.units.abf import ABF_BASE

EABF_ATTENTION = "longeval_eabf"
EABF_EAGER_ATTENTION = "longeval_eabf_eager"

_registered = False


def attention_implementation(config) -> str:
    """The attention transformers should run for this (extended) config: the family's eager attention where it
    soft-caps logits (SDPA would drop the cap), SDPA otherwise; longeval's EABF variant when a query scale is set."""
    eager = bool(getattr(config, "attn_logit_softcapping", None))
    if QueryScale.from_config(config) is not None:
        return EABF_EAGER_ATTENTION if eager else EABF_ATTENTION
    return "eager" if eager else "sdpa"


def _eabf_rope_init(config, device=None, seq_len=None, layer_type=None, **kwargs):
    """Plain RoPE at base 500000 whatever the config says (legacy `type: eabf`), computed like transformers does."""
    import torch

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    partial = (getattr(config, "rope_parameters", None) or {}).get("partial_rotary_factor") or 1.0
    dim = int(head_dim * partial)
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim
    return 1.0 / (ABF_BASE ** exponents), 1.0


def _scaled_query(module, query, kwargs):
    scale = QueryScale.from_config(module.config)
    if scale is None or not scale.applies_to(module.layer_idx):
        return query
    position_ids = kwargs.get("position_ids")
    if position_ids is None:
        raise RuntimeError("EABF attention needs position_ids (passed by the decoder layer)")
    factors = eabf_query_scale(position_ids, scale.original_max_position_embeddings)
    return query * factors.to(query.dtype)[:, None, :, None]


def eabf_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """SDPA attention with EABF's query scale; query is post-RoPE [batch, heads, q_len, head_dim]."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, _scaled_query(module, query, kwargs), key, value, attention_mask, **kwargs)


def eabf_eager_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """The model family's own eager attention (soft-capping included) with EABF's query scale."""
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise RuntimeError(f"{type(module).__name__}'s module has no eager_attention_forward")
    return eager(module, _scaled_query(module, query, kwargs), key, value, attention_mask, **kwargs)


def register() -> None:
    """Make the "eabf" rope type and the EABF attentions known to transformers. Idempotent."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    ROPE_INIT_FUNCTIONS["eabf"] = _eabf_rope_init
    AttentionInterface.register(EABF_ATTENTION, eabf_attention_forward)
    AttentionMaskInterface.register(EABF_ATTENTION, sdpa_mask)
    AttentionInterface.register(EABF_EAGER_ATTENTION, eabf_eager_attention_forward)
    AttentionMaskInterface.register(EABF_EAGER_ATTENTION, eager_mask)
    _registered = True
