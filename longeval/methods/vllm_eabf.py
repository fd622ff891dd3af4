"""Entropy-aware ABF as a vLLM model class: vLLM's Llama with the query scaled per position after RoPE.

EABF's RoPE part is plain RoPE with a large base (set through rope_parameters); what vLLM cannot express is the
per-query-position logit factor t(p) in layers >= skip_layers. It depends on the layer index and on each token's
absolute position, so it lives in attention, not in the shared rotary module. Only q changes: keys, values, the
paged KV cache and chunked prefill are untouched. Settings come from the HF config key `longeval_query_scale`
({"skip_layers", "original_max_position_embeddings"}), written by the method's config overrides.
Imported only inside vLLM processes (lazily, through the plugin's registration string).
"""

from __future__ import annotations

import torch
from vllm.config import VllmConfig
from vllm.model_executor.models.llama import LlamaAttention, LlamaDecoderLayer, LlamaForCausalLM
from vllm.model_executor.models.utils import extract_layer_index

from longeval.methods import QUERY_SCALE_KEY, QueryScale
from longeval.methods.rope import eabf_query_scale


def _query_scale(config) -> QueryScale:
    scale = QueryScale.from_config(config)
    if scale is None:
        raise ValueError(f"the EABF model class needs the config key '{QUERY_SCALE_KEY}' "
                         "({'skip_layers': int, 'original_max_position_embeddings': int})")
    return scale


class EabfLlamaAttention(LlamaAttention):
    """Llama attention that multiplies q by t(p) = max(1, ln(p+1)/ln(original_max)) after RoPE."""

    def __init__(self, *, config, prefix: str = "", **kwargs) -> None:
        super().__init__(config=config, prefix=prefix, **kwargs)
        scale = _query_scale(config)
        self.scales_query = scale.applies_to(extract_layer_index(prefix))
        self.original_max_position_embeddings = scale.original_max_position_embeddings

    def forward(self, positions: torch.Tensor, hidden_states: torch.Tensor) -> torch.Tensor:
        qkv, _ = self.qkv_proj(hidden_states)
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q, k = self.rotary_emb(positions, q, k)
        if self.scales_query:
            # q is [num_tokens, heads * head_dim] and positions [num_tokens]: one factor per token.
            scale = eabf_query_scale(positions, self.original_max_position_embeddings)
            q = q * scale.to(q.dtype).unsqueeze(-1)
        attn_output = self.attn(q, k, v)
        output, _ = self.o_proj(attn_output)
        return output


class EabfLlamaDecoderLayer(LlamaDecoderLayer):
    def __init__(self, vllm_config: VllmConfig, prefix: str = "", config=None,
                 attn_layer_type: type[torch.nn.Module] = EabfLlamaAttention) -> None:
        super().__init__(vllm_config, prefix, config, attn_layer_type)


class EabfLlamaForCausalLM(LlamaForCausalLM):
    """vLLM's LlamaForCausalLM (same weights, same loading) with EABF query scaling in its attention layers."""

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "",
                 layer_type: type[torch.nn.Module] = EabfLlamaDecoderLayer) -> None:
        super().__init__(vllm_config=vllm_config, prefix=prefix, layer_type=layer_type)
