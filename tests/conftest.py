"""Shared fixtures: the tiny random Llama every engine test runs on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_weight_digest_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weight digests are cached per user; tests keep theirs to themselves (subprocesses inherit the variable)."""
    folder = tmp_path_factory.mktemp("longeval-cache")
    os.environ["LONGEVAL_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest) -> Path:
    """Path of the tiny Llama checkpoint (built once, then reused from pytest's cache folder across sessions)."""
    from longeval.tinymodel import build_tiny_model

    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    if cache is not None:
        cache_dir = Path(cache.mkdir("longeval-tiny-model"))
    else:
        cache_dir = request.getfixturevalue("tmp_path_factory").mktemp("longeval-tiny-model")
    return build_tiny_model(cache_dir / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder for the echo backend: the tiny model's config and tokenizer, placeholder weights (the
    echo engine never reads them; the run folder's identity does). Built without torch."""
    import json

    from longeval.tinymodel import CHAT_TEMPLATE, PRESETS, _train_tokenizer

    folder = tmp_path_factory.mktemp("echo-model") / "model"
    folder.mkdir()
    tokenizer = _train_tokenizer(PRESETS["tiny"].vocab_size)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    shape = PRESETS["tiny"]
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": shape.hidden_size,
              "num_attention_heads": shape.num_heads, "num_key_value_heads": shape.num_kv_heads, "head_dim": 32,
              "num_hidden_layers": shape.num_layers, "max_position_embeddings": shape.max_position_embeddings,
              "rope_parameters": {"rope_type": "default", "rope_theta": shape.rope_theta},
              "vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id,
              "eos_token_id": tokenizer.eos_token_id}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"placeholder weights " * 64)
    return folder
