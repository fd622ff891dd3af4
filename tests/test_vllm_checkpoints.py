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

from longeval.backends.base import GenerationParams
from longeval.cli import main
from longeval.methods import parse_method
from tests.test_vllm_backend import LONG_PROMPT_LENGTHS, MAX_LENGTH, NEW_TOKENS, hf_generate, random_prompts

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


