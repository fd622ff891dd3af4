"""Every method on every model family, both engines: a tiny random checkpoint per family (built from the family's
config with the project's tokenizer, longeval.tinymodel), vLLM == transformers token for token in fp32 for none,
pi, yarn, abf and eabf (skip_layers 2 and 0), each with the anti-vacuity check that the method changed the output.
The partial-rotary family (StableLM) is also checked against the golden inv_freq / attention-factor tables on
its rotary dim. Nothing is faked: both engines load the same checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest
import torch
from helpers import GOLDEN_ROPE, vllm_cache_root

from longeval.backends.base import GenerationParams
from longeval.errors import UserError
from longeval.methods import parse_method, rope
from longeval.methods.families import FAMILIES, supported_families
from longeval.tinymodel import FAMILY_CONFIGS

pytestmark = pytest.mark.engine  # tiny checkpoints of each family (torch, transformers)

GOLDEN = GOLDEN_ROPE
VLLM_MISSING = importlib.util.find_spec("vllm") is None
ORIGINAL_MAX = 256
MAX_LENGTH = 512  # 2x the original positions: what pi/yarn with factor 2 cover
NEW_TOKENS = 8
# EABF's scale is at most ln 512 / ln 256 = 1.125 here: its effect on greedy tokens shows later in a sequence.
EABF_NEW_TOKENS = 24
SPECS = ("none", "pi:factor=2", "yarn:factor=2", "abf", "eabf", "eabf:skip_layers=0")
ENGINE_SPECS = {"phi3": [s for s in SPECS if not s.startswith("yarn")]}  # refused there (see the refusal test)


@pytest.fixture(scope="session")
def family_models(request: pytest.FixtureRequest) -> dict[str, Path]:
    """Lazily built tiny checkpoints, one per family, reused from pytest's cache folder across sessions."""
    cache = getattr(request.config, "cache", None)
    root = (Path(cache.mkdir("longeval-family-models")) if cache is not None
            else request.getfixturevalue("tmp_path_factory").mktemp("longeval-family-models"))

    class Models(dict):
        def __missing__(self, family: str) -> Path:
            from longeval.tinymodel import build_tiny_model

            self[family] = build_tiny_model(root / family, family=family)
            return self[family]

    return Models()


def random_prompts(model: Path, lengths: tuple[int, ...], seed: int = 0) -> list[list[int]]:
    config = json.loads((model / "config.json").read_text())
    special = {0, config["bos_token_id"], config["eos_token_id"]}
    ordinary = [i for i in range(config["vocab_size"]) if i not in special]
    rng = random.Random(seed)
    return [[rng.choice(ordinary) for _ in range(n)] for n in lengths]


_HF_CACHE: dict[tuple[str, str, int, int, int], list[list[int]]] = {}


def new_tokens_for(spec: str) -> int:
    return EABF_NEW_TOKENS if spec.startswith("eabf") else NEW_TOKENS


def hf_tokens(model: Path, family: str, spec: str, prompts, max_length: int, seed: int,
              new_tokens: int = NEW_TOKENS) -> list[list[int]]:
    """transformers' greedy tokens (cached per family, method, prompt seed, length and answer length)."""
    from longeval.backends.hf import HFBackend

    key = (family, spec, seed, max_length, new_tokens)
    if key not in _HF_CACHE:
        backend = HFBackend(model, parse_method(spec), max_length=max_length, dtype="float32", device="cpu")
        try:
            _HF_CACHE[key] = [g.token_ids for g in backend.generate(prompts, GenerationParams(new_tokens))]
        finally:
            backend.close()
    return _HF_CACHE[key]


def discriminating_prompts(model: Path, family: str, spec: str, lengths, max_length: int):
    """Random prompts on which EABF's query scale (at most ln 512 / ln 256 = 1.125 here) changes transformers'
    greedy tokens relative to ABF, so the anti-vacuity check can see it ran; the first of a few seeds."""
    if not spec.startswith("eabf"):
        return random_prompts(model, lengths), 0
    for seed in range(4):
        prompts = random_prompts(model, lengths, seed)
        if (hf_tokens(model, family, spec, prompts, max_length, seed, EABF_NEW_TOKENS)
                != hf_tokens(model, family, "abf", prompts, max_length, seed, EABF_NEW_TOKENS)):
            return prompts, seed
    raise AssertionError(f"{spec} gives ABF's tokens on every prompt tried: the query scale has no effect")


# ------------------------------------------------------------------------------------------ no engine needed

def test_every_family_is_listed_with_the_methods_it_supports(capsys):
    from longeval.cli import main

    assert set(FAMILIES) == set(FAMILY_CONFIGS)
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "families: Llama, Mistral, Qwen2, Qwen3, Gemma2, Phi-3, StableLM" in out  # e.g. under none
    assert "Phi-3" not in supported_families(parse_method("yarn").info)


@pytest.mark.parametrize("spec", ["yarn", "ntk-by-parts:factor=2"])
def test_yarn_on_phi3_is_refused_with_a_line_naming_the_combination(family_models, spec):
    config = json.loads((family_models["phi3"] / "config.json").read_text())
    with pytest.raises(UserError) as info:
        parse_method(spec).config_overrides(config, 512)
    message = str(info.value)
    assert "Phi-3" in message and spec.split(":")[0] in message and "\n" not in message


def test_eabf_skip_layers_at_or_past_the_layer_count_is_refused(family_models):
    config = json.loads((family_models["llama"] / "config.json").read_text())
    assert config["num_hidden_layers"] == 4
    parse_method("eabf:skip_layers=3").config_overrides(config, 512)
    for skip in (4, 9):
        with pytest.raises(UserError, match=f"skip_layers {skip} leaves none of this model's 4 layers"):
            parse_method(f"eabf:skip_layers={skip}").config_overrides(config, 512)


def _golden_entries() -> list[dict]:
    return [e for e in json.loads(GOLDEN.read_text())["entries"]
            if e["config"]["rope_parameters"]["rope_type"] in ("default", "linear", "yarn", "llama3")]


def _method_for(entry: dict):
    """The longeval method whose config overrides should give this golden entry's frequencies."""
    rp = entry["config"]["rope_parameters"]
    kind = rp["rope_type"]
    if kind == "default":
        return parse_method(f"abf:base={rp['rope_theta']}") if rp["rope_theta"] != 10000.0 else parse_method("none")
    if kind == "linear":
        return parse_method(f"pi:factor={rp['factor']}")
    if kind == "yarn":
        extra = "".join(f",{k}={rp[k]}" for k in ("beta_fast", "beta_slow", "attention_factor") if k in rp)
        return parse_method(f"yarn:factor={rp['factor']}{extra}")
    return parse_method(f"llama3:factor={rp['factor']},low_freq_factor={rp['low_freq_factor']},"
                        f"high_freq_factor={rp['high_freq_factor']}")


@pytest.mark.fidelity
@pytest.mark.parametrize("entry", _golden_entries(), ids=lambda e: e["name"])
def test_partial_rotary_family_builds_the_golden_frequencies_on_its_rotary_dim(entry):
    """StableLM with head_dim 256 and partial_rotary_factor 0.5 rotates 128 dims: the golden tables (d = 128)
    must come out of both transformers and vLLM, i.e. every formula uses the rotary dim, not the head dim."""
    from transformers import StableLmConfig
    from transformers.models.stablelm.modeling_stablelm import StableLmRotaryEmbedding

    cfg = entry["config"]
    original = cfg["rope_parameters"].get("original_max_position_embeddings", cfg["max_position_embeddings"])
    base = {"model_type": "stablelm", "architectures": ["StableLmForCausalLM"], "hidden_size": 4096,
            "num_attention_heads": 16, "num_hidden_layers": 2, "max_position_embeddings": original,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}}
    if cfg["rope_parameters"]["rope_type"] == "llama3":
        base["rope_parameters"]["rope_theta"] = cfg["rope_parameters"]["rope_theta"]
    method = _method_for(entry)
    overrides = method.config_overrides(base, int(original * float(method.params.get("factor") or 1.0)))
    assert overrides["rope_parameters"]["partial_rotary_factor"] == 0.5
    config = StableLmConfig(**{k: v for k, v in {**base, **overrides}.items() if k != "model_type"})
    rotary = StableLmRotaryEmbedding(config)
    golden = torch.tensor(entry["inv_freq"], dtype=torch.float64)
    assert rotary.inv_freq.shape == golden.shape
    assert torch.allclose(rotary.inv_freq.double(), golden, atol=1e-6, rtol=1e-6)
    assert rotary.attention_scaling == pytest.approx(entry["attention_factor"], abs=1e-6)
    if VLLM_MISSING:
        return
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.model_executor.layers.rotary_embedding import get_rope

    with set_current_vllm_config(VllmConfig()):  # vLLM's custom ops read it when built
        module = get_rope(256, overrides["max_position_embeddings"], is_neox_style=True,
                          rope_parameters=overrides["rope_parameters"], dtype=torch.float32)
    assert module.rotary_dim == 128
    # Row 1 of the cos/sin cache is [a cos(w_j), a sin(w_j)]: its angle gives w_j, its norm the attention factor.
    cos, sin = module.cos_sin_cache[1].double().chunk(2)
    assert torch.allclose(torch.atan2(sin, cos), golden, atol=1e-6, rtol=1e-5)
    assert torch.allclose(torch.hypot(cos, sin), torch.full_like(cos, entry["attention_factor"]), atol=1e-6)


def test_formulas_use_the_rotary_dim_of_a_partial_rotary_config():
    config = {"model_type": "stablelm", "hidden_size": 128, "num_attention_heads": 4, "max_position_embeddings": 256,
              "rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}}
    theta = parse_method("ntk:factor=4").config_overrides(config, 1024)["rope_parameters"]["rope_theta"]
    assert theta == rope.ntk_aware_theta(1e4, 16, 4.0) != rope.ntk_aware_theta(1e4, 32, 4.0)


# ------------------------------------------------------------------------------------------ real engines

vllm_env = pytest.fixture(scope="module", autouse=True)(vllm_cache_root)


def _cases() -> list[tuple[str, str]]:
    return [(family, spec) for family in FAMILY_CONFIGS for spec in ENGINE_SPECS.get(family, SPECS)]


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.skipif(VLLM_MISSING, reason="vllm is not installed")
@pytest.mark.parametrize(("family", "spec"), _cases())
def test_vllm_and_hf_agree_on_every_family(family_models, family, spec):
    from longeval.backends.vllm import VLLMBackend

    model = family_models[family]
    max_length = ORIGINAL_MAX if spec == "none" else MAX_LENGTH
    lengths = (120, ORIGINAL_MAX - NEW_TOKENS) if spec == "none" else (300, MAX_LENGTH - new_tokens_for(spec))
    prompts, seed = discriminating_prompts(model, family, spec, lengths, max_length)
    new_tokens = new_tokens_for(spec)
    expected = hf_tokens(model, family, spec, prompts, max_length, seed, new_tokens)
    backend = VLLMBackend(model, parse_method(spec), max_length=max_length, dtype="float32")
    try:
        got = [g.token_ids for g in backend.generate(prompts, GenerationParams(new_tokens))]
    finally:
        backend.close()
    assert got == expected
    assert sum(len(t) for t in got) >= new_tokens + 2  # enough tokens compared (EOS may end one early)
    if spec != "none":
        # Anti-vacuity: the method changes transformers' output on these prompts, so vLLM really applied it.
        assert hf_tokens(model, family, "none", prompts, max_length, seed, new_tokens) != expected
    if spec.startswith("eabf"):
        # ... and the query scale really ran (ABF alone gives other tokens).
        assert hf_tokens(model, family, "abf", prompts, max_length, seed, new_tokens) != got
