"""Checkpoints that carry their method load in vLLM as the extended model, with no --method given.

Two kinds: what `longeval extend` writes, and a paper-style config whose legacy `rope_scaling` says
`{"type": "eabf", "factor": 4}` (how the entropy-aware ABF checkpoints may be saved). Each must generate, in vLLM,
the tokens the transformers backend gives for the base checkpoint with the method applied explicitly.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from test_vllm_backend import LONG_PROMPT_LENGTHS, MAX_LENGTH, NEW_TOKENS, hf_generate, random_prompts

from longeval.backends.base import GenerationParams
from longeval.cli import main
from longeval.methods import parse_method

pytestmark = [pytest.mark.slow, pytest.mark.vllm,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")]


@pytest.fixture(autouse=True)
def vllm_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))


def vllm_generate(model: Path, prompts, params: GenerationParams) -> list:
    from longeval.backends.vllm import VLLMBackend

    backend = VLLMBackend(model, method=None, max_length=MAX_LENGTH, dtype="float32")
    try:
        assert backend.method.name == parse_method(backend.method.spec).name  # recognised from the config
        return backend.generate(prompts, params)
    finally:
        backend.close()


@pytest.mark.parametrize("spec", ["eabf", "yarn:factor=4"])
def test_extended_checkpoint_runs_in_vllm_as_the_extended_model(tiny_model: Path, tmp_path: Path, spec: str):
    out = tmp_path / "extended"
    assert main(["extend", str(tiny_model), "--method", spec, "--out", str(out), "--max-length",
                 str(MAX_LENGTH)]) == 0
    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    expected = hf_generate(tiny_model, spec, prompts, params, MAX_LENGTH)
    got = vllm_generate(out, prompts, params)
    assert [g.token_ids for g in got] == [e.token_ids for e in expected]


def test_paper_style_legacy_eabf_config_runs_in_vllm_at_base_500000(tiny_model: Path, tmp_path: Path):
    legacy = tmp_path / "legacy-eabf"
    shutil.copytree(tiny_model, legacy)
    config = json.loads((legacy / "config.json").read_text())
    config.pop("rope_parameters", None)
    config["rope_theta"] = 10000.0
    config["rope_scaling"] = {"type": "eabf", "factor": 4}
    (legacy / "config.json").write_text(json.dumps(config))
    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    got = vllm_generate(legacy, prompts, params)
    assert [g.token_ids for g in got] == [e.token_ids for e in hf_generate(tiny_model, "eabf", prompts, params,
                                                                           MAX_LENGTH)]
    # Not plain RoPE at base 10000, which is what a loader ignoring the legacy type would silently run.
    plain = hf_generate(tiny_model, "none", prompts[:1], params, MAX_LENGTH)
    assert plain[0].token_ids != got[0].token_ids




def test_samsum_eos_list_replaces_the_generation_configs_eos_ids_in_both_engines(tiny_model: Path, tmp_path: Path):
    """pred.py gives samsum `eos_token_id=[eos, newline]`, replacing the generation config's list: a model whose
    generation config names an extra EOS id (as Llama-3's <|eot_id|>) stops there on other tasks, not on samsum."""
    from transformers import AutoTokenizer

    from longeval.runner import generation_params
    from longeval.tasks import get_task

    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS, seed=2)
    free = hf_generate(tiny_model, "abf", prompts, GenerationParams(NEW_TOKENS), MAX_LENGTH)
    extra_eos = free[0].token_ids[NEW_TOKENS // 2]  # a token the model emits mid-way through prompt 0's answer
    model = tmp_path / "extra-eos"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({"eos_token_id": [config["eos_token_id"], extra_eos]}))
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    newline = tokenizer.encode("\n", add_special_tokens=False)[-1]
    if extra_eos == newline or newline in free[0].token_ids[: NEW_TOKENS // 2 + 1]:
        pytest.skip("the chosen token is the newline, or the newline comes first: nothing to tell apart")

    samsum = generation_params(get_task("samsum"), tokenizer)
    assert samsum.eos_token_ids == (tokenizer.eos_token_id, newline) and samsum.min_new_tokens == 1
    plain = GenerationParams(NEW_TOKENS)
    samsum = GenerationParams(NEW_TOKENS, min_new_tokens=1, eos_token_ids=samsum.eos_token_ids)
    for params, stops_at_extra in ((plain, True), (samsum, False)):
        expected = hf_generate(model, "abf", prompts, params, MAX_LENGTH)
        from longeval.backends.vllm import VLLMBackend

        backend = VLLMBackend(model, parse_method("abf"), max_length=MAX_LENGTH, dtype="float32")
        try:
            got = backend.generate(prompts, params)
        finally:
            backend.close()
        assert [g.token_ids for g in got] == [e.token_ids for e in expected]
        ended_at_extra = got[0].token_ids[-1] == extra_eos and len(got[0].token_ids) <= NEW_TOKENS // 2 + 1
        assert ended_at_extra == stops_at_extra


def test_another_method_on_an_eabf_checkpoint_drops_the_query_scale_in_vllm(tiny_model: Path, tmp_path: Path):
    """--method abf on an EABF-extended checkpoint must run plain ABF: the checkpoint's EABF class and query-scale
    key are overridden in vLLM as they are in transformers."""
    from longeval.backends.vllm import VLLMBackend

    out = tmp_path / "eabf"
    assert main(["extend", str(tiny_model), "--method", "eabf", "--out", str(out), "--max-length",
                 str(MAX_LENGTH)]) == 0
    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    backend = VLLMBackend(out, parse_method("abf"), max_length=MAX_LENGTH, dtype="float32")
    try:
        got = backend.generate(prompts, params)
    finally:
        backend.close()
    assert [g.token_ids for g in got] == [e.token_ids for e in hf_generate(tiny_model, "abf", prompts, params,
                                                                           MAX_LENGTH)]
