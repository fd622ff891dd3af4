"""Model families longeval extends, and the vLLM architecture names of longeval's model wrappers.

Every method changes only the RoPE settings of a config, which transformers and vLLM read the same way for all of
these families; the one attention change (EABF's query scale) runs through a generic hook on both engines
(methods/hf.py, methods/vllm_models.py), so a method works on every family listed here unless its unit refuses
the family (`MethodUnit.refused_families`). Families are tested in tests/test_families.py on tiny random
checkpoints built from each family's config (longeval.tinymodel).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Prefix of longeval's vLLM wrapper classes: "Longeval" + the model's own architecture name.
WRAPPER_PREFIX = "Longeval"
# Written by longeval before wrappers were generic (extended EABF Llama checkpoints carry it).
LEGACY_EABF_ARCHITECTURE = "LongevalEabfLlamaForCausalLM"


@dataclass(frozen=True)
class Family:
    """A model family: its config model_type, its causal-LM architecture, and what is special about it."""

    model_type: str
    name: str
    architecture: str
    notes: str


FAMILIES: dict[str, Family] = {f.model_type: f for f in [
    Family("llama", "Llama", "LlamaForCausalLM", "full rotary, GQA"),
    Family("mistral", "Mistral", "MistralForCausalLM", "Llama layout, own config (sliding_window)"),
    Family("qwen2", "Qwen2", "Qwen2ForCausalLM", "q/k/v biases"),
    Family("qwen3", "Qwen3", "Qwen3ForCausalLM", "q/k RMSNorm before RoPE"),
    Family("gemma2", "Gemma2", "Gemma2ForCausalLM",
           "query_pre_attn_scalar attention scale, sliding-window layers, logit soft-capping"),
    Family("phi3", "Phi-3", "Phi3ForCausalLM", "fused qkv/gate-up projections (longrope checkpoints refused)"),
    Family("stablelm", "StableLM", "StableLmForCausalLM",
           "partial rotary: RoPE over partial_rotary_factor of the head"),
]}


def family_of(config: Mapping[str, Any]) -> Family | None:
    """The family of a config (None for a model_type longeval has not been tested on)."""
    return FAMILIES.get(str(config.get("model_type") or ""))


def engine_architecture(architecture: str) -> str:
    """The name vLLM is given to build longeval's wrapper of `architecture` (idempotent)."""
    base = base_architecture(architecture)
    return WRAPPER_PREFIX + base


def base_architecture(architecture: str) -> str:
    """The model's own architecture name behind a wrapper name (unchanged when not a wrapper)."""
    if architecture == LEGACY_EABF_ARCHITECTURE:
        return "LlamaForCausalLM"
    if architecture.startswith(WRAPPER_PREFIX) and architecture[len(WRAPPER_PREFIX):][:1].isupper():
        return architecture[len(WRAPPER_PREFIX):]
    return architecture


def supported_families(unit) -> list[str]:
    """Names of the families a method unit runs on."""
    return [f.name for f in FAMILIES.values() if f.model_type not in unit.refused_families]
