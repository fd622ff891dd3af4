"""Inputs refused in one line, exit 2, with nothing written: the cases issue 23 found still accepted or ending in a
traceback (run names, serve lengths, method parameters, paths), each checked against the contract."""

from __future__ import annotations

import importlib.util

import pytest
from helpers import assert_exit_2_one_line
from test_run_folder import echo_args
from test_runner import make_data


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "tab\there", "../up", "a/b", "..", "back\\slash"])
def test_a_run_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, capsys, echo_model, name):
    data = make_data(tmp_path / "lb", n=1)
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, tmp_path / "runs", "--run-name", name), "--run-name")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "up").exists()


@pytest.mark.parametrize("spec", ["pi:factor=1e308", "yarn:factor=1e308", "ntk:factor=1e308", "llama3:factor=1e308",
                                  "eabf:skip_layers=999"])
@pytest.mark.parametrize("command", ["run", "prompts"])
def test_method_parameters_out_of_range_are_refused_in_one_line(tmp_path, capsys, echo_model, spec, command):
    data = make_data(tmp_path / "lb", n=1)
    argv = echo_args(echo_model, data, tmp_path / "runs", "--method", spec)
    if command == "prompts":
        argv = ["prompts", "--model", str(echo_model), "--method", spec, "--tasks", "hotpotqa", "--data", str(data),
                "--out", str(tmp_path / "runs"), "--limit", "1"]
    assert_exit_2_one_line(capsys, argv, spec.split(":")[0], "skip_layers" if "skip" in spec else "at most")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("url", ["localhost:8000", "http://[bad/v1", "http://x:99999/v1", "ftp://host/v1"])
def test_a_malformed_base_url_is_refused_in_one_line(tmp_path, capsys, echo_model, url):
    data = make_data(tmp_path / "lb", n=1)
    argv = ["run", "--model", str(echo_model), "--tasks", "hotpotqa", "--data", str(data), "--out",
            str(tmp_path / "runs"), "--backend", "openai", "--base-url", url, "--retries", "0", "--no-progress"]
    assert_exit_2_one_line(capsys, argv, "--base-url", url)
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="serve needs vllm")
@pytest.mark.parametrize("length", ["0", "1", "99999999999999"])
def test_serve_refuses_a_max_model_len_no_server_can_hold(capsys, echo_model, length):
    assert_exit_2_one_line(capsys, ["serve", str(echo_model), "--max-model-len", length, "--dry-run"],
                           "--max-model-len", length)


def test_entropy_on_a_missing_local_path_answers_at_once(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("some words\n")
    missing = tmp_path / "no-such-model"
    assert_exit_2_one_line(capsys, ["entropy", "--model", str(missing), "--method", "none", "--text", str(text),
                                    "--out", str(tmp_path / "out")], str(missing), "no such checkpoint")


def _checkpoint_with_real_weights(echo_model, folder):
    """The echo checkpoint with a small but real safetensors file (numpy; no torch needed)."""
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    shutil.copytree(echo_model, folder)
    save_file({"w": np.arange(4096, dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize("damage", ["none", "truncated", "header"])
def test_extend_refuses_a_checkpoint_without_whole_weights_and_copies_get_a_plain_mode(tmp_path, capsys,
                                                                                        echo_model, damage):
    import os

    from longeval.cli import main

    model = _checkpoint_with_real_weights(echo_model, tmp_path / "ckpt")
    weights = model / "model.safetensors"
    if damage == "none":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    else:
        weights.write_bytes(b"\xff" * 64)
    argv = ["extend", str(model), "--method", "yarn:factor=2", "--out", str(tmp_path / "out")]
    assert_exit_2_one_line(capsys, argv, str(model))
    assert not (tmp_path / "out").exists()
    # A whole checkpoint extends; the files it copies get the mode open() gives, not the source's 0600.
    whole = _checkpoint_with_real_weights(echo_model, tmp_path / "whole")
    for path in whole.iterdir():
        path.chmod(0o600)
    assert main(["extend", str(whole), "--method", "yarn:factor=2", "--out", str(tmp_path / "out")]) == 0
    umask = os.umask(0o022)
    os.umask(umask)
    copied = tmp_path / "out" / "tokenizer_config.json"
    assert copied.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("backend", ["hf", pytest.param("vllm", marks=pytest.mark.vllm)])
def test_a_truncated_safetensors_file_is_refused_by_either_engine(tmp_path, capsys, echo_model, backend):
    """Refused before an engine is built (vLLM's loader would fail in a worker, transformers' with a traceback)."""
    model = _checkpoint_with_real_weights(echo_model, tmp_path / "ckpt")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    data = make_data(tmp_path / "lb", n=1)
    argv = ["run", "--model", str(model), "--tasks", "hotpotqa", "--data", str(data), "--out", str(tmp_path / "runs"),
            "--backend", backend, "--max-length", "200", "--no-progress"]
    assert_exit_2_one_line(capsys, argv, "model.safetensors", "truncated")
    assert not (tmp_path / "runs").exists()


def test_left_padding_uses_an_id_the_models_embedding_has():
    """A Qwen2-style tokenizer adds its pad token after the vocabulary: padding with it was an IndexError."""
    from longeval.backends.hf import pad_id_within

    assert pad_id_within((151_643, 151_643), 151_936) == 151_643  # inside: the tokenizer's own pad id
    assert pad_id_within((300, 2), 300) == 2  # pad id past the embedding: EOS instead
    assert pad_id_within((None, 500), 300) == 0 and pad_id_within((None, None), 300) == 0


@pytest.mark.engine
@pytest.mark.parametrize("where", ["--out", "--cache"])
def test_demo_output_paths_that_are_files_are_refused_in_one_line(tmp_path, capsys, where):
    """A file where the demo's output or cache folder must go: one line naming it, nothing created beside it."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder\n")
    argv = ["demo", "--tiny", "--no-progress", where, str(in_the_way)]
    if where == "--cache":
        argv += ["--out", str(tmp_path / "out")]
    err = assert_exit_2_one_line(capsys, argv, str(in_the_way))
    assert "Traceback" not in err
    assert in_the_way.read_text() == "not a folder\n"


@pytest.mark.engine
@pytest.mark.parametrize(("device", "needle"), [("cuda", "no CUDA device"), ("cuda:7", "CUDA"),
                                                 ("gpu7", "not a device name")])
def test_an_unavailable_or_unknown_device_is_refused_in_one_line(tmp_path, capsys, tiny_model, device, needle):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the CUDA devices the test asks for")
    text = tmp_path / "text.txt"
    text.write_text("words and more words. " * 200)
    assert_exit_2_one_line(capsys, ["entropy", "--model", str(tiny_model), "--lengths", "32", "--text", str(text),
                                    "--device", device, "--out", str(tmp_path / "out"), "--no-progress"],
                           "--device", needle)
    assert not (tmp_path / "out").exists()
