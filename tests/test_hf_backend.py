"""The transformers backend on the tiny Llama: EABF against a hand-written forward pass, cached vs uncached and
batched vs one-at-a-time greedy decoding, the per-task stop rules, and loading of existing extended configs."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from pathlib import Path

import pytest
import torch

from longeval.backends.base import GenerationParams
from longeval.backends.hf import HFBackend, load_hf_model
from longeval.methods import parse_method, rope

pytestmark = pytest.mark.slow

LENGTH = 600  # > 2x the tiny model's 256 original positions, so EABF's scale reaches ln(600)/ln(256) = 1.15


def random_ids(n: int, seed: int, vocab: int = 900) -> list[int]:
    rng = random.Random(seed)
    return [1] + [rng.randrange(3, vocab) for _ in range(n - 1)]


def reference_logits(model, ids: list[int], theta: float, skip_layers: int | None, original_max: int = 256):
    """Llama forward written from the weights alone (float64 math), with EABF's q scale applied by hand.

    RoPE angles are formed in float32 as transformers does (position * inv_freq in float32), so the comparison
    checks attention and the scale, not float32 rounding of large angles.
    """
    cfg = model.config
    w = {k: v.detach().to(torch.float64) for k, v in model.state_dict().items()}
    n_heads, n_kv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    t = len(ids)
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angles = torch.arange(t, dtype=torch.float32)[:, None] * inv_freq[None, :]
    cos = torch.cat([angles, angles], dim=-1).cos().to(torch.float64)
    sin = torch.cat([angles, angles], dim=-1).sin().to(torch.float64)
    scale = torch.clamp(torch.log(torch.arange(t, dtype=torch.float64) + 1) / math.log(original_max), min=1.0)
    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)

    def rms(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + cfg.rms_norm_eps) * weight

    def rotate(x):
        return x * cos + torch.cat([-x[..., d // 2:], x[..., : d // 2]], dim=-1) * sin

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for layer in range(cfg.num_hidden_layers):
        p = f"model.layers.{layer}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rotate((h @ w[p + "self_attn.q_proj.weight"].T).view(t, n_heads, d).transpose(0, 1))
        k = rotate((h @ w[p + "self_attn.k_proj.weight"].T).view(t, n_kv, d).transpose(0, 1))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(t, n_kv, d).transpose(0, 1)
        if skip_layers is not None and layer >= skip_layers:
            q = q * scale[None, :, None]
        k, v = k.repeat_interleave(n_heads // n_kv, 0), v.repeat_interleave(n_heads // n_kv, 0)
        scores = (q @ k.transpose(1, 2)) / math.sqrt(d)
        probs = scores.masked_fill(causal, float("-inf")).softmax(-1)
        x = x + (probs @ v).transpose(0, 1).reshape(t, n_heads * d) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def model_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].to(torch.float64)


@pytest.mark.parametrize("skip_layers", [2, 0])
def test_eabf_logits_equal_hand_written_reference(tiny_model: Path, skip_layers: int) -> None:
    method = parse_method(f"eabf:skip_layers={skip_layers}")
    ids = random_ids(LENGTH, seed=1)
    # float64 weights (transformers still does RMSNorm and RoPE in float32): within 1e-5. In float32 the
    # rounding alone reaches ~1.5e-5 on these logits, hence the looser bound for the float32 engine.
    model = load_hf_model(tiny_model, method, 1024, dtype="float64")
    expected = reference_logits(model, ids, 500000.0, skip_layers)
    assert (model_logits(model, ids) - expected).abs().max().item() < 1e-5
    model32 = load_hf_model(tiny_model, method, 1024)
    assert (model_logits(model32, ids) - expected).abs().max().item() < 1e-4
    # The comparison is sensitive to the scale: without it the logits are far off.
    unscaled = reference_logits(model, ids, 500000.0, None)
    assert (unscaled - expected).abs().max().item() > 1e-3


def test_abf_logits_equal_reference_without_scale(tiny_model: Path) -> None:
    model = load_hf_model(tiny_model, parse_method("abf"), 1024, dtype="float64")
    assert model.config._attn_implementation == "sdpa"
    ids = random_ids(LENGTH, seed=2)
    assert (model_logits(model, ids) - reference_logits(model, ids, 500000.0, None)).abs().max().item() < 1e-5


def test_eabf_leaves_layers_below_skip_layers_untouched(tiny_model: Path) -> None:
    ids = torch.tensor([random_ids(LENGTH, seed=3)])
    outputs = {}
    for spec in ("abf", "eabf"):
        model = load_hf_model(tiny_model, parse_method(spec), 1024)
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states
        outputs[spec] = hidden  # hidden[i + 1] is the output of decoder layer i
    for layer in (0, 1):
        assert torch.equal(outputs["abf"][layer + 1], outputs["eabf"][layer + 1])
    assert not torch.allclose(outputs["abf"][3], outputs["eabf"][3], atol=1e-4)


def test_eabf_greedy_same_with_and_without_kv_cache(tiny_model: Path) -> None:
    backend = HFBackend(tiny_model, parse_method("eabf"), max_length=1024, batch_size=1)
    prompt = random_ids(500, seed=4)
    cached = backend.generate([prompt], GenerationParams(max_new_tokens=12))[0].token_ids
    tokens = list(prompt)
    for _ in range(12):  # full forward over the whole sequence at every step
        tokens.append(int(model_logits(backend.model, tokens)[-1].argmax()))
    assert cached == tokens[len(prompt):]


@pytest.mark.parametrize("spec", ["eabf", "yarn:factor=4", "none"])
def test_batched_generation_equals_one_at_a_time(tiny_model: Path, spec: str) -> None:
    lengths = [5, 300, 41, 520, 77, 260, 128] if spec != "none" else [5, 200, 41, 77, 128]
    prompts = [random_ids(n, seed=10 + n) for n in lengths]
    backend = HFBackend(tiny_model, parse_method(spec), max_length=1024, batch_size=3)
    params = GenerationParams(max_new_tokens=10)
    batched = backend.generate(prompts, params)
    singles = [backend.generate([p], params)[0] for p in prompts]
    assert [g.token_ids for g in batched] == [g.token_ids for g in singles]
    assert all(len(g.token_ids) >= 1 for g in batched)
    assert [g.text for g in batched] == [g.text for g in singles]


def test_stop_tokens_min_new_tokens_and_text(tiny_model: Path) -> None:
    backend = HFBackend(tiny_model, parse_method("eabf"), max_length=1024, batch_size=2)
    prompt = random_ids(300, seed=5)
    free = backend.generate([prompt], GenerationParams(max_new_tokens=8))[0].token_ids
    assert len(free) == 8 or free[-1] in backend.eos_ids
    # An extra stop id ends generation and is kept (samsum's newline).
    stop = free[3]
    stopped = backend.generate([prompt], GenerationParams(max_new_tokens=8, stop_token_ids=(stop,)))[0]
    assert stopped.token_ids == free[: free.index(stop) + 1]
    assert stopped.text == backend.tokenizer.decode(stopped.token_ids, skip_special_tokens=True)
    # min_new_tokens bans stop ids (and EOS) for the first steps, as samsum's min_length does.
    banned = backend.generate([prompt], GenerationParams(max_new_tokens=3, stop_token_ids=(free[0],),
                                                         min_new_tokens=1))[0]
    assert banned.token_ids[0] != free[0]
    assert backend.versions()["transformers"]


def test_text_is_decoded_without_strip(tiny_model: Path) -> None:
    backend = HFBackend(tiny_model, parse_method("none"), batch_size=1)
    newline = backend.tokenizer.encode("\n", add_special_tokens=False)
    assert len(newline) == 1
    prompt = random_ids(50, seed=6)
    first = backend.generate([prompt], GenerationParams(max_new_tokens=1))[0].token_ids[0]
    # Force a known output: stopping on the first greedy token gives exactly its decoded text, spaces kept.
    out = backend.generate([prompt], GenerationParams(max_new_tokens=4, stop_token_ids=(first,)))[0]
    assert out.token_ids == [first] and out.text == backend.tokenizer.decode([first])


def linked_copy(base: Path, out: Path, config_edit) -> Path:
    """A checkpoint folder sharing base's files, with an edited config.json."""
    out.mkdir()
    for source in base.iterdir():
        if source.name != "config.json":
            os.link(source, out / source.name) if source.is_file() else shutil.copytree(source, out / source.name)
    config = json.loads((base / "config.json").read_text())
    config_edit(config)
    (out / "config.json").write_text(json.dumps(config))
    return out


def legacy(rope_scaling: dict, theta: float = 10000.0, **extra):
    def edit(config: dict) -> None:
        config.pop("rope_parameters", None)
        config["rope_scaling"], config["rope_theta"] = rope_scaling, theta
        config.update(extra)
    return edit


def test_legacy_eabf_checkpoint_loads_with_base_500000(tiny_model: Path, tmp_path: Path) -> None:
    folder = linked_copy(tiny_model, tmp_path / "eabf", legacy({"type": "eabf", "factor": 4}))
    model = load_hf_model(folder, max_length=1024)
    expected = rope.default_inv_freq(500000.0, 32).to(torch.float32)
    assert torch.allclose(model.model.rotary_emb.inv_freq, expected, rtol=1e-6)
    assert model.config._attn_implementation == "longeval_eabf"
    assert model.config.longeval_query_scale == {"skip_layers": 2, "original_max_position_embeddings": 256}
    # Loaded by plain transformers (after registration), the legacy type also gets base 500000, not 10000.
    from transformers import AutoModelForCausalLM

    from longeval.methods.hf import register

    register()
    plain = AutoModelForCausalLM.from_pretrained(folder)
    assert torch.allclose(plain.model.rotary_emb.inv_freq, expected, rtol=1e-6)


def test_legacy_yarn_and_abf_checkpoints_load_as_their_methods(tiny_model: Path, tmp_path: Path) -> None:
    yarn = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256, "finetuned": True}
    folder = linked_copy(tiny_model, tmp_path / "yarn", legacy(yarn, max_position_embeddings=1024))
    backend = HFBackend(folder, batch_size=1)
    assert backend.method.spec == "yarn"
    rotary = backend.model.model.rotary_emb
    assert torch.allclose(rotary.inv_freq.double(), rope.yarn_inv_freq(1e4, 32, 4.0, 256), atol=1e-7)
    assert rotary.attention_scaling == pytest.approx(0.1 * math.log(4) + 1)

    folder = linked_copy(tiny_model, tmp_path / "abf", legacy(None, theta=500000.0))
    model = load_hf_model(folder, max_length=1024)
    assert model.config.longeval_method["name"] == "abf"
    assert model.config._attn_implementation == "sdpa"
    assert torch.allclose(model.model.rotary_emb.inv_freq, rope.default_inv_freq(5e5, 32).float(), rtol=1e-6)
