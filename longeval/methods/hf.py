"""Registration of longeval's methods into transformers 5.x (rope init registry + attention/mask interfaces).

Every method except EABF is expressed with standard rope types (see `Method.config_overrides`), so transformers
needs nothing extra for them. Two registrations remain:

- rope type "eabf": checkpoints saved by the paper's loader carry `rope_scaling: {"type": "eabf", "factor": 4}`.
  Without an init function transformers fails with KeyError; a naive one would use the config's base 10000.
  Ours forces base 500000, as the released code hard-codes it (the factor is ignored there too).
- attention "longeval_eabf": scales the post-RoPE query by t(p) in layers >= skip_layers, then runs SDPA. Its mask
  function must be registered as well: transformers builds no mask at all for attention implementations unknown to
  the mask registry, and SDPA would then silently ignore padding.
"""

from __future__ import annotations

from longeval.methods import ABF_BASE, QueryScale
from longeval.methods.rope import eabf_query_scale

EABF_ATTENTION = "longeval_eabf"

_registered = False


def _eabf_rope_init(config, device=None, seq_len=None, layer_type=None, **kwargs):
    """Plain RoPE at base 500000 whatever the config says (legacy `type: eabf`), computed like transformers does."""
    import torch

    dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim
    return 1.0 / (ABF_BASE ** exponents), 1.0


def eabf_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """SDPA attention with EABF's query scale; query is post-RoPE [batch, heads, q_len, head_dim]."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    scale = QueryScale.from_config(module.config)
    if scale is not None and scale.applies_to(module.layer_idx):
        position_ids = kwargs.get("position_ids")
        if position_ids is None:
            raise RuntimeError("EABF attention needs position_ids (passed by the Llama decoder layer)")
        factors = eabf_query_scale(position_ids, scale.original_max_position_embeddings)
        query = query * factors.to(query.dtype)[:, None, :, None]
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def register() -> None:
    """Make the "eabf" rope type and the EABF attention known to transformers. Idempotent."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    ROPE_INIT_FUNCTIONS["eabf"] = _eabf_rope_init
    AttentionInterface.register(EABF_ATTENTION, eabf_attention_forward)
    AttentionMaskInterface.register(EABF_ATTENTION, sdpa_mask)
    _registered = True
