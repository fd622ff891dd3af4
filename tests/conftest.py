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
