"""`longeval run`: durable, resumable runs with provenance, and clear refusals of bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_exit_2_one_line

from longeval.cli import main
from longeval.runner import generation_params, read_finished
from longeval.tasks import get_task


def make_data(folder: Path, task: str = "hotpotqa", n: int = 8, words: int = 150) -> Path:
    """LongBench-format records of varied length (some over the budget, so truncation happens)."""
    lines = []
    for i in range(n):
        context = " ".join(f"passage{j % 17} river{i}" for j in range(words + 37 * i))
        lines.append({"input": f"Where is river{i}?", "context": context, "answers": [f"river{i}"],
                      "length": len(context.split()), "dataset": task, "language": "en", "all_classes": None,
                      "_id": f"{task}-{i:02d}"})
    path = folder / "data" / f"{task}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return folder


def run_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "hotpotqa", "--data", str(data), "--out", str(out),
            "--backend", "hf", "--max-length", "200", "--no-progress", *extra]


def preds_by_id(path: Path) -> dict[str, dict]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [line["_id"] for line in lines]
    assert len(ids) == len(set(ids)), "an _id was written twice"
    return {line["_id"]: line for line in lines}


@pytest.mark.slow
def test_run_writes_official_layout_and_provenance(tmp_path, tiny_model):
    data = make_data(tmp_path / "lb", n=3)
    assert main(run_args(tiny_model, data, tmp_path / "runs", "--method", "pi", "--run-name", "r")) == 0
    folder = tmp_path / "runs" / "r"
    preds = preds_by_id(folder / "pred" / "hotpotqa.jsonl")
    assert sorted(preds) == ["hotpotqa-00", "hotpotqa-01", "hotpotqa-02"]
    for line in preds.values():
        assert set(line) == {"pred", "answers", "all_classes", "length", "_id"}
        assert isinstance(line["pred"], str)
    result = json.loads((folder / "pred" / "result.json").read_text())
    assert set(result) == {"hotpotqa"} and isinstance(result["hotpotqa"], float)
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete" and info["run_name"] == "r"
    assert info["method"]["name"] == "pi" and info["method"]["params"]["factor"] == 4.0
    assert info["max_length"] == 200 and info["chat_wrapper"] == "hf" and info["backend"]["name"] == "hf"
    assert info["model"]["config_sha256"] and info["data"]["sha256"] and info["versions"]["transformers"]
    assert info["tokens"]["prompt"] > 0 and info["tokens"]["generated"] > 0 and info["tokens_per_second"] > 0
    assert info["truncated"]["hotpotqa"] >= 1
    assert info["task_versions"] == {"hotpotqa": get_task("hotpotqa").version}
    assert info["started"] <= info["finished"]
    # Re-running the finished command generates nothing and keeps every _id once.
    assert main(run_args(tiny_model, data, tmp_path / "runs", "--method", "pi", "--run-name", "r")) == 0
    assert preds_by_id(folder / "pred" / "hotpotqa.jsonl") == preds


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, tiny_model):
    data = make_data(tmp_path / "lb", n=10)
    args = ["--method", "none", "--run-name", "r", "--batch-size", "1"]
    assert main(run_args(tiny_model, data, tmp_path / "whole", *args)) == 0
    whole = preds_by_id(tmp_path / "whole" / "r" / "pred" / "hotpotqa.jsonl")

    killed_dir = tmp_path / "killed"
    pred_file = killed_dir / "r" / "pred" / "hotpotqa.jsonl"
    command = [sys.executable, "-m", "longeval", *run_args(tiny_model, data, killed_dir, *args)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if pred_file.is_file() and len(pred_file.read_text(encoding="utf-8").splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = preds_by_id(pred_file)
    assert 2 <= len(partial) < 10
    assert json.loads((killed_dir / "r" / "run.json").read_text())["status"] == "partial"
    # A torn last line, as a kill in the middle of a write leaves it.
    with pred_file.open("a", encoding="utf-8") as handle:
        handle.write('{"pred": "half a li')

    assert main(run_args(tiny_model, data, killed_dir, *args)) == 0
    resumed = preds_by_id(pred_file)
    assert resumed == whole
    info = json.loads((killed_dir / "r" / "run.json").read_text())
    assert info["status"] == "complete" and info["sessions"] == 2
    # Its counts are those of the uninterrupted run (prompts built but not predicted before the kill count once).
    uninterrupted = json.loads((tmp_path / "whole" / "r" / "run.json").read_text())
    for key in ("records", "truncated", "tokens"):
        assert info[key] == uninterrupted[key], key


def test_read_finished_drops_only_a_torn_last_line(tmp_path):
    path = tmp_path / "t.jsonl"
    good = {"pred": "a", "answers": ["a"], "all_classes": None, "length": 3, "_id": "x"}
    path.write_text(json.dumps(good) + "\n" + '{"pred": "b", "ans', encoding="utf-8")
    assert list(read_finished(path)) == ["x"]
    assert path.read_text(encoding="utf-8") == json.dumps(good) + "\n"  # rewritten cleanly
    path.write_text('{"broken\n' + json.dumps(good) + "\n", encoding="utf-8")
    from longeval.errors import UserError

    with pytest.raises(UserError, match="malformed prediction line") as info:
        read_finished(path)
    assert info.value.line == 1


def test_bad_inputs_are_one_line_exit_2(tmp_path, capsys, tiny_model):
    data = make_data(tmp_path / "lb", n=2)
    out = tmp_path / "runs"
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--tasks", "trec"), "no trec.jsonl")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--tasks", "hotpotqa,nosuchtask"), "nosuchtask")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--tasks", "paper99"), "paper99")
    empty_model = tmp_path / "not-a-model"
    empty_model.mkdir()
    assert_exit_2_one_line(capsys, run_args(empty_model, data, out), "no config.json", str(empty_model))
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--tasks", "hotpotqa,hotpotqa_e"), "LongBench-E")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--method", "warp:factor=2"), "warp")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--max-length", "4096,abc"), "--max-length")
    broken = dict(json.loads((data / "data" / "hotpotqa.jsonl").read_text().splitlines()[0]))
    del broken["context"]
    bad_data = tmp_path / "bad"
    (bad_data / "data").mkdir(parents=True)
    (bad_data / "data" / "hotpotqa.jsonl").write_text(json.dumps(broken) + "\n")
    assert_exit_2_one_line(capsys, run_args(tiny_model, bad_data, out), "hotpotqa.jsonl:1", "field 'context'")


@pytest.mark.slow
def test_other_settings_into_same_run_folder_are_refused(tmp_path, capsys, tiny_model):
    data = make_data(tmp_path / "lb", n=1)
    out = tmp_path / "runs"
    assert main(run_args(tiny_model, data, out, "--method", "none", "--run-name", "r")) == 0
    before = (out / "r" / "pred" / "hotpotqa.jsonl").read_text()
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--method", "yarn", "--run-name", "r"),
                     "other settings", "method")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--method", "none", "--run-name", "r",
                                      "--chat-template", "llama2"), "other settings", "chat_wrapper")
    assert (out / "r" / "pred" / "hotpotqa.jsonl").read_text() == before
    # Predictions made under another version of the task definition are not mixed with this version's.
    run_json = out / "r" / "run.json"
    info = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**info, "task_versions": {"hotpotqa": info["task_versions"]["hotpotqa"] + 1}}))
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, out, "--method", "none", "--run-name", "r"),
                     "holds task hotpotqa version", "use another --run-name")
    assert (out / "r" / "pred" / "hotpotqa.jsonl").read_text() == before
    # Spellings of the same setting are the same setting: fp32 resumes a float32 run (nothing left to do).
    assert main(run_args(tiny_model, data, out, "--method", "none", "--run-name", "f", "--dtype", "float32")) == 0
    first = (out / "f" / "pred" / "hotpotqa.jsonl").read_text()
    assert main(run_args(tiny_model, data, out, "--method", "none", "--run-name", "f", "--dtype", "fp32")) == 0
    assert (out / "f" / "pred" / "hotpotqa.jsonl").read_text() == first


@pytest.mark.slow
def test_generation_rules_come_from_the_task_fields(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    newline = tokenizer.encode("\n", add_special_tokens=False)[-1]
    samsum = generation_params(get_task("samsum"), tokenizer)
    assert (samsum.max_new_tokens, samsum.min_new_tokens) == (128, 1)
    assert samsum.eos_token_ids == (tokenizer.eos_token_id, newline)
    trec = generation_params(get_task("trec"), tokenizer)
    assert (trec.max_new_tokens, trec.min_new_tokens, trec.eos_token_ids) == (64, 0, None)


@pytest.mark.slow
def test_length_sweep_makes_one_run_per_length(tmp_path, capsys, tiny_model):
    data = make_data(tmp_path / "lb", n=1)
    out = tmp_path / "runs"
    argv = run_args(tiny_model, data, out, "--method", "yarn")
    argv[argv.index("--max-length") + 1] = "120,300"
    assert main(argv) == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and names[0].startswith(f"{tiny_model.name}-")
    assert [n.split("_", 1)[1] for n in names] == ["yarn_120", "yarn_300"]
    lengths = [json.loads((out / n / "run.json").read_text())["max_length"] for n in names]
    assert lengths == [120, 300]
    # The command ends with one table of the sweep's scores (a column per run), not Python dict reprs.
    printed = capsys.readouterr().out
    assert "prompt budget 120 tokens" in printed and "{" not in printed
    header, _, row = printed.strip().splitlines()[-3:]
    assert header.split() == ["task", *names]
    assert row.split()[0] == "hotpotqa" and len(row.split()) == 3


def test_outcome_line_says_where_scores_are_or_how_to_resume(tmp_path):
    from longeval.commands.run import outcome_line

    done = outcome_line(tmp_path, {"status": "complete", "records": {"trec": {"done": 3, "total": 3}}})
    assert "complete" in done and str(tmp_path / "pred" / "result.json") in done
    partial = outcome_line(tmp_path, {"status": "partial", "records": {"trec": {"done": 1, "total": 3},
                                                                       "hotpotqa": {"done": 0, "total": 2}}})
    assert "1 of 5" in partial and "resume" in partial


@pytest.mark.slow
def test_longbench_e_run_writes_base_file_and_buckets(tmp_path, tiny_model):
    data = make_data(tmp_path / "lb", task="hotpotqa_e", n=3)
    records = [json.loads(line) for line in (data / "data" / "hotpotqa_e.jsonl").read_text().splitlines()]
    for record, length in zip(records, (100, 5000, 9000), strict=True):  # one record per LongBench-E bucket
        record["length"] = length
    (data / "data" / "hotpotqa_e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    argv = run_args(tiny_model, data, tmp_path / "runs", "--run-name", "e")
    argv[argv.index("--tasks") + 1] = "hotpotqa_e"
    assert main(argv) == 0
    pred = tmp_path / "runs" / "e" / "pred"
    assert sorted(p.name for p in pred.iterdir()) == ["hotpotqa.jsonl", "result.json"]
    result = json.loads((pred / "result.json").read_text())
    assert set(result) == {"hotpotqa"} and set(result["hotpotqa"]) == {"0-4k", "4-8k", "8k+"}
    assert json.loads((tmp_path / "runs" / "e" / "run.json").read_text())["settings"]["longbench_e"] is True


def test_unwritable_out_and_path_like_run_names_are_one_line_exit_2(tmp_path, capsys, tiny_model):
    data = make_data(tmp_path / "lb", n=1)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, a_file), "cannot create the run folder")
    assert_exit_2_one_line(capsys, run_args(tiny_model, data, tmp_path / "runs", "--run-name", "../escape"),
                     "--run-name")
    assert not (tmp_path / "escape").exists()


def test_model_config_without_rotary_dimension_is_one_line_exit_2(tmp_path, capsys, tiny_model):
    data = make_data(tmp_path / "lb", n=1)
    model = tmp_path / "model"
    model.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model / name).write_bytes((tiny_model / name).read_bytes())
    (model / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))
    assert_exit_2_one_line(capsys, run_args(model, data, tmp_path / "runs"), "hidden_size")
    (model / "config.json").write_text("[]")
    assert_exit_2_one_line(capsys, run_args(model, data, tmp_path / "runs"), "JSON object")


@pytest.mark.slow
def test_hf_run_past_the_covered_length_warns_of_extrapolation(tmp_path, capsys, tiny_model):
    """transformers computes any position, so the run goes on, but the user is told the RoPE table ends earlier."""
    data = make_data(tmp_path / "lb", n=1)
    assert main(run_args(tiny_model, data, tmp_path / "runs", "--method", "none", "--max-length", "400")) == 0
    assert "exceed the 256 that method none covers" in capsys.readouterr().err  # a warning: stderr
    assert main(run_args(tiny_model, data, tmp_path / "runs", "--method", "pi:factor=2", "--max-length", "400")) == 0
    assert "extrapolation" not in capsys.readouterr().err


@pytest.mark.slow
def test_run_json_records_the_checkpoints_own_rope(tmp_path, tiny_model):
    """A plain-RoPE checkpoint with another theta runs as none with that theta, and run.json says so."""
    model = tmp_path / "theta20k"
    model.mkdir()
    for source in tiny_model.iterdir():
        if source.is_file() and source.name != "config.json":
            os.link(source, model / source.name)
    config = json.loads((tiny_model / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "default", "rope_theta": 20000.0}
    (model / "config.json").write_text(json.dumps(config))
    data = make_data(tmp_path / "lb", n=1)
    assert main(run_args(model, data, tmp_path / "runs", "--run-name", "r")) == 0
    method = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["method"]
    assert method["spec"] == "none" and method["from_checkpoint"] is True
    assert method["checkpoint_rope"]["rope_theta"] == 20000.0 and method["checkpoint_rope"]["rope_type"] == "default"
