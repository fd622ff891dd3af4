"""longeval's engine hooks in vLLM, for every model family through one wrapper: `Longeval<Arch>` is vLLM's own
class for <Arch> (same weights, same loading), with two changes installed after construction, each only when the
config asks for it:

- EABF's query scale (`longeval_query_scale`): q is multiplied by t(p) = max(1, ln(p+1)/ln(L0)) right after
  RoPE in layers >= skip_layers. vLLM builds one rotary module and shares it across all layers (get_rope memoises
  it), so the scale cannot live inside it: each attention module's `rotary_emb` attribute is replaced by its own
  small wrapper around the shared module, which knows its layer. Only q changes: keys, values, the paged KV cache
  and chunked prefill are untouched, and it works for any family whose attention calls
  `self.rotary_emb(positions, q, k)` (Llama, Mistral, Qwen2/3, Gemma2, Phi-3, StableLM, ...).
- rotary positions (`longeval_rotary_positions`): YaRN's cos/sin cache ends at L0 * factor in vLLM whatever the
  engine length; it is rebuilt, with the same frequencies and attention factor, for every position the engine
  serves, so runs past the method's coverage extrapolate as transformers does.

The classes are created on first attribute access (module `__getattr__`), so the plugin can register each
family's wrapper as a lazy "module:Class" string. Imported only inside vLLM processes.
"""

from __future__ import annotations

import torch

from longeval.methods.base import QueryScale
from longeval.methods.config import ROTARY_POSITIONS_KEY
from longeval.methods.families import WRAPPER_PREFIX, base_architecture
from longeval.methods.rope import eabf_query_scale


class QueryScaledRotary(torch.nn.Module):
    """One layer's view of the shared rotary module: RoPE as usual, then q scaled by t(position)."""

    def __init__(self, rotary: torch.nn.Module, original_max: int) -> None:
        super().__init__()
        self.rotary = rotary
        self.original_max = original_max

    def forward(self, positions: torch.Tensor, query: torch.Tensor, key: torch.Tensor | None = None):
        query, key = self.rotary(positions, query, key)
        # q is [num_tokens, heads * head_dim] (or [num_tokens, heads, head_dim]) and positions [num_tokens].
        scale = eabf_query_scale(positions.reshape(-1), self.original_max).to(query.dtype)
        return query * scale.view(-1, *([1] * (query.dim() - 1))), key


def _layer_index(name: str) -> int | None:
    numbers = [int(part) for part in name.split(".") if part.isdigit()]
    return numbers[0] if len(numbers) == 1 else None


def install_query_scale(model: torch.nn.Module, scale: QueryScale) -> int:
    """Wrap the rotary module of every attention layer the scale applies to. Returns the layers wrapped."""
    wrapped = seen = 0
    for name, module in list(model.named_modules()):
        rotary = getattr(module, "rotary_emb", None)
        layer = _layer_index(name)
        if rotary is None or layer is None or isinstance(rotary, QueryScaledRotary):
            continue
        seen += 1
        if scale.applies_to(layer):
            module.rotary_emb = QueryScaledRotary(rotary, int(scale.original_max_position_embeddings or 0))
            wrapped += 1
    if seen == 0:
        raise ValueError(f"{type(model).__name__}: no attention layer with a rotary_emb module, so longeval cannot "
                         "apply EABF's query scale to this model family in vLLM")
    return wrapped


def extend_rotary_caches(model: torch.nn.Module, positions: int) -> None:
    """Give every rotary cache of the model `positions` rows, with unchanged frequencies (YaRN's is the one
    sized by L0 * factor; the others are sized by the config's max_position_embeddings, set by longeval)."""
    from vllm.model_executor.layers.rotary_embedding.yarn_scaling_rope import YaRNScalingRotaryEmbedding

    done: set[int] = set()
    for module in model.modules():
        cache = getattr(module, "cos_sin_cache", None)
        if not isinstance(cache, torch.Tensor) or id(module) in done or cache.shape[0] >= positions:
            continue
        done.add(id(module))
        if not isinstance(module, YaRNScalingRotaryEmbedding):
            raise ValueError(f"{type(module).__name__} has {cache.shape[0]} rotary positions, fewer than the "
                             f"{positions} the engine serves, and longeval cannot extend it")
        # The same computation as the class's own cache, over more positions.
        inv_freq = module._compute_inv_freq(module.scaling_factor)
        freqs = torch.outer(torch.arange(positions, dtype=torch.float32), inv_freq)
        longer = torch.cat((freqs.cos() * module.mscale, freqs.sin() * module.mscale), dim=-1)
        module.cos_sin_cache = longer.to(device=cache.device, dtype=cache.dtype)
        if getattr(module, "cos_sin_cache_bf16", None) is not None:
            module.cos_sin_cache_bf16 = longer.to(device=cache.device, dtype=torch.bfloat16)


def install_hooks(model: torch.nn.Module, hf_config) -> None:
    """Apply what the (overridden) config asks of longeval's wrapper."""
    positions = getattr(hf_config, ROTARY_POSITIONS_KEY, None)
    if positions:
        extend_rotary_caches(model, int(positions))
    scale = QueryScale.from_config(hf_config)
    if scale is not None:
        install_query_scale(model, scale)


_CLASSES: dict[str, type] = {}


def wrapper_class(architecture: str) -> type:
    """`Longeval<architecture>`: vLLM's class for the architecture with longeval's hooks installed after init."""
    base_name = base_architecture(architecture)
    if base_name in _CLASSES:
        return _CLASSES[base_name]
    from vllm.model_executor.models.registry import ModelRegistry

    base = ModelRegistry._try_load_model_cls(base_name)
    if base is None:
        raise ValueError(f"vLLM has no model class {base_name!r} to wrap")

    def __init__(self, *, vllm_config, prefix: str = "", **kwargs) -> None:
        base.__init__(self, vllm_config=vllm_config, prefix=prefix, **kwargs)
        install_hooks(self, vllm_config.model_config.hf_config)

    cls = type(WRAPPER_PREFIX + base_name, (base,), {"__init__": __init__, "__module__": __name__,
                                                     "__doc__": f"vLLM's {base_name} with longeval's hooks."})
    _CLASSES[base_name] = cls
    return cls


def __getattr__(name: str) -> type:
    if name.startswith(WRAPPER_PREFIX) and name[len(WRAPPER_PREFIX):][:1].isupper():
        return wrapper_class(name)
    raise AttributeError(name)
