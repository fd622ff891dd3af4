"""Refused runs: one line naming the problem, exit 2, no traceback, and no run.json or empty pred/ left behind."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from test_runner import make_data

from longeval.cli import main


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run the command; it must exit 2 with one line on stderr holding every needle."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def run_argv(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "hotpotqa", "--data", str(data), "--out", str(out),
            "--max-length", "120", "--no-progress", "--run-name", "r", *extra]


def nothing_left(out: Path) -> None:
    """No run folder at all, or one without run.json and without an (empty) pred/."""
    folder = out / "r"
    assert not (folder / "run.json").exists() and not (folder / "pred").exists(), list(folder.rglob("*"))


@pytest.mark.parametrize("flags, needle", [
    (["--gpu-memory-utilization", "2"], "--gpu-memory-utilization"),
    (["--gpu-memory-utilization", "0"], "--gpu-memory-utilization"),
    (["--gpu-memory-utilization", "nan"], "--gpu-memory-utilization"),
    (["--tensor-parallel-size", "0"], "--tensor-parallel-size"),
])
def test_bad_vllm_flags_leave_nothing(tmp_path, capsys, tiny_model, flags, needle):
    data = make_data(tmp_path / "lb", n=1)
    refused(capsys, run_argv(tiny_model, data, tmp_path / "runs", "--backend", "vllm", *flags), needle)
    nothing_left(tmp_path / "runs")


def test_an_empty_data_file_is_named_and_leaves_nothing(tmp_path, capsys, tiny_model):
    data = tmp_path / "lb"
    (data / "data").mkdir(parents=True)
    (data / "data" / "hotpotqa.jsonl").write_text("")
    refused(capsys, run_argv(tiny_model, data, tmp_path / "runs", "--backend", "hf"),
            "hotpotqa.jsonl", "no records")
    nothing_left(tmp_path / "runs")


needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")


@pytest.mark.parametrize("backend", ["hf", pytest.param("vllm", marks=needs_vllm)])
def test_a_model_folder_without_weights_is_refused_and_leaves_nothing(tmp_path, capsys, tiny_model, backend):
    model = tmp_path / "no-weights"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("*.safetensors"))
    data = make_data(tmp_path / "lb", n=1)
    refused(capsys, run_argv(model, data, tmp_path / "runs", "--backend", backend), "no weight files", str(model))
    nothing_left(tmp_path / "runs")


def test_a_shard_its_index_names_but_missing_is_refused(tmp_path, capsys, tiny_model):
    model = tmp_path / "sharded"
    shutil.copytree(tiny_model, model)
    (model / "model.safetensors").rename(model / "model-00001-of-00002.safetensors")
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    refused(capsys, run_argv(model, make_data(tmp_path / "lb", n=1), tmp_path / "runs", "--backend", "hf"),
            "model-00002-of-00002.safetensors", "missing")
    nothing_left(tmp_path / "runs")


def test_a_run_json_that_is_not_an_object_is_one_line_and_the_folder_is_kept(tmp_path, capsys, tiny_model):
    folder = tmp_path / "runs" / "r"
    (folder / "pred").mkdir(parents=True)
    (folder / "run.json").write_text("[1, 2]")
    line = {"pred": "x", "answers": ["y"], "all_classes": None, "length": 1, "_id": "hotpotqa-00"}
    (folder / "pred" / "hotpotqa.jsonl").write_text(json.dumps(line) + "\n")
    refused(capsys, run_argv(tiny_model, make_data(tmp_path / "lb", n=1), tmp_path / "runs", "--backend", "hf"),
            "run.json", "JSON object")
    assert (folder / "run.json").read_text() == "[1, 2]"
    assert (folder / "pred" / "hotpotqa.jsonl").read_text() == json.dumps(line) + "\n"


def test_max_length_below_the_minimum_names_the_minimum(tmp_path, capsys, tiny_model):
    argv = run_argv(tiny_model, make_data(tmp_path / "lb", n=1), tmp_path / "runs", "--backend", "hf")
    argv[argv.index("--max-length") + 1] = "1"
    refused(capsys, argv, "--max-length", "at least 2")
    argv[argv.index("--max-length") + 1] = "2"  # the minimum is real: it runs
    assert main(argv) == 0
