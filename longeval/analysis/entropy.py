"""Attention entropy per layer, head and query position, measured inside a real forward pass.

The paper behind EABF (arXiv 2401.07004, Fig. 1) motivates its design by the entropy of each layer's attention
distribution: layers 0-1 spread attention almost uniformly as the context grows, the others stay focused, and
EABF's query scale t(p) = max(1, ln(p+1)/ln L0) sharpens (lowers the entropy of) the layers it is applied to.

How it is measured: the model's attention function is wrapped by a registered one that, for each layer, takes the
post-RoPE query and key the model computed, applies EABF's query scale exactly where the model's EABF attention
does (layers >= skip_layers, from the config's query-scale key), computes the causal softmax entropy in chunks of
query rows, and then hands the call to the model's own attention function unchanged. Memory is
O(heads x chunk x length) per layer, never O(length^2), so long contexts on large models fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

ENTROPY_ATTENTION_PREFIX = "longeval_entropy_"
# Budget for one chunk's logits and probabilities (float32), per layer call.
DEFAULT_CHUNK_BYTES = 256 * 1024 * 1024


def causal_entropy(query: torch.Tensor, key: torch.Tensor, scaling: float, query_positions: torch.Tensor,
                   key_positions: torch.Tensor, sliding_window: int | None = None,
                   softcap: float | None = None) -> torch.Tensor:
    """Softmax entropy (nats) of each query's attention over the keys it may see; [heads, queries].

    query [heads, queries, dim] and key [heads, keys, dim] (key heads already matched to query heads), key
    positions ascending. A query at position p sees keys at positions <= p (and > p - sliding_window with a
    window). Computed in float32 as H = ln Z - sum(p z) over logits shifted by their maximum, in place: one
    [heads, queries, keys] buffer for the logits and one for the weights.
    """
    logits = torch.matmul(query.float(), key.float().transpose(-1, -2)).mul_(scaling)
    if softcap:
        logits.div_(softcap).tanh_().mul_(softcap)
    # Hidden keys get a large finite negative logit: exp gives exactly 0 and 0 * logit stays 0 (no inf * 0 = nan).
    if sliding_window:
        hidden = key_positions[None, :] > query_positions[:, None]
        hidden |= key_positions[None, :] <= query_positions[:, None] - sliding_window
        logits.masked_fill_(hidden, _HIDDEN)
    else:
        # Keys up to the earliest query's position are visible to every query: mask only the columns after it.
        first = int(torch.searchsorted(key_positions, query_positions.min(), right=True))
        hidden = key_positions[None, first:] > query_positions[:, None]
        logits[..., first:].masked_fill_(hidden, _HIDDEN)
    logits.sub_(logits.amax(dim=-1, keepdim=True))
    weights = logits.exp()
    total = weights.sum(dim=-1)
    weighted = weights.mul_(logits).sum(dim=-1)
    return total.log().sub_(weighted.div_(total))


_HIDDEN = -1e30


@dataclass
class LayerTotals:
    """Running sums for one layer: per head and position bucket, and the last query's entropy per head."""

    sums: torch.Tensor  # [heads, buckets] float64
    counts: torch.Tensor  # [buckets] int64
    last: torch.Tensor | None = None  # [heads] entropy of the sequence's last query


@dataclass
class EntropyRecorder:
    """Collects entropies from every layer of one forward pass (batch of one unpadded sequence)."""

    length: int
    bucket_size: int
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    layers: dict[int, LayerTotals] = field(default_factory=dict)

    @property
    def buckets(self) -> int:
        return math.ceil(self.length / self.bucket_size)

    def chunk_rows(self, heads: int, keys: int) -> int:
        """Query rows per chunk so that logits + probabilities stay within chunk_bytes."""
        return max(1, self.chunk_bytes // (heads * keys * 4 * 3))

    def record(self, layer: int, query: torch.Tensor, key: torch.Tensor, scaling: float,
               sliding_window: int | None = None, softcap: float | None = None) -> None:
        """query [1, heads, q_len, dim] (already scaled as the model scales it), key [1, kv_heads, kv_len, dim]."""
        if query.shape[0] != 1:
            raise ValueError("entropy is recorded for one sequence at a time")
        q, k = query[0], key[0]
        heads, q_len, kv_len = q.shape[0], q.shape[1], k.shape[1]
        if heads != k.shape[0]:
            k = k.repeat_interleave(heads // k.shape[0], dim=0)
        key_positions = torch.arange(kv_len, device=k.device)
        totals = self.layers.get(layer)
        if totals is None:
            totals = LayerTotals(torch.zeros(heads, self.buckets, dtype=torch.float64),
                                 torch.zeros(self.buckets, dtype=torch.int64))
            self.layers[layer] = totals
        rows = self.chunk_rows(heads, kv_len)
        first = kv_len - q_len  # no padding, no cache beyond this call: query i sits at position first + i
        for start in range(0, q_len, rows):
            stop = min(q_len, start + rows)
            positions = torch.arange(first + start, first + stop, device=k.device)
            visible = first + stop  # keys after the chunk's last query are masked for all of its rows: skip them
            entropy = causal_entropy(q[:, start:stop], k[:, :visible], scaling, positions, key_positions[:visible],
                                     sliding_window, softcap).to("cpu", torch.float64)
            bucket = (positions // self.bucket_size).to("cpu")
            totals.sums.index_add_(1, bucket, entropy)
            totals.counts.index_add_(0, bucket, torch.ones_like(bucket))
            if stop == q_len:
                totals.last = entropy[:, -1].clone()


_active: EntropyRecorder | None = None


def _query_scale_factors(module, query: torch.Tensor, kwargs: dict) -> torch.Tensor | None:
    """EABF's per-query factors for this layer, exactly as the model's EABF attention applies them, or None."""
    from longeval.methods import QueryScale

    scale = QueryScale.from_config(module.config)
    if scale is None or not scale.applies_to(module.layer_idx):
        return None
    position_ids = kwargs.get("position_ids")
    if position_ids is None:
        raise RuntimeError("EABF attention needs position_ids (passed by the decoder layer)")
    return scale.factors(position_ids).to(query.device, query.dtype)[:, None, :, None]


def _make_attention(delegate_name: str):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    def entropy_attention_forward(module, query, key, value, attention_mask, **kwargs):
        recorder = _active
        if recorder is not None:
            factors = _query_scale_factors(module, query, kwargs)
            scaled = query if factors is None else query * factors
            scaling = kwargs.get("scaling")
            recorder.record(module.layer_idx, scaled.detach(), key.detach(),
                            scaling if scaling is not None else module.scaling,
                            kwargs.get("sliding_window"), kwargs.get("softcap"))
        return ALL_ATTENTION_FUNCTIONS[delegate_name](module, query, key, value, attention_mask, **kwargs)

    return entropy_attention_forward


def instrument(model) -> str:
    """Route the model's attention through an entropy-recording wrapper of its current attention function.

    Returns the wrapper's registered name. The wrapper records only while `measure` runs.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    delegate = model.config._attn_implementation
    if delegate.startswith(ENTROPY_ATTENTION_PREFIX):
        return delegate
    name = ENTROPY_ATTENTION_PREFIX + delegate
    AttentionInterface.register(name, _make_attention(delegate))
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[delegate])
    model.set_attn_implementation(name)
    return name


def measure(model, input_ids: list[int], bucket_size: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> EntropyRecorder:
    """One forward pass over input_ids (no cache, nothing generated) with entropy recorded in every layer."""
    global _active
    if not model.config._attn_implementation.startswith(ENTROPY_ATTENTION_PREFIX):
        raise ValueError("call instrument(model) first")
    recorder = EntropyRecorder(len(input_ids), bucket_size, chunk_bytes)
    device = next(model.parameters()).device
    ids = torch.tensor([input_ids], dtype=torch.long, device=device)
    _active = recorder
    try:
        with torch.inference_mode():
            # Only the layers are needed: the base model skips the vocabulary projection over every position.
            base = model.base_model
            base(input_ids=ids, position_ids=torch.arange(len(input_ids), device=device)[None], use_cache=False)
    finally:
        _active = None
    return recorder
