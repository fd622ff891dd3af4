"""Runner behaviour on the echo backend (no torch, no weights): resume, sweep, counts, identity, one writer.

The echo engine is the one fake here (it stands in for a model so these run in seconds); the run folders, the
OS lock, the kills and the second processes are real.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_exit_2_one_line, assert_one_line_error
from test_runner import make_data, preds_by_id

from longeval.cli import main

ROOT = Path(__file__).resolve().parents[1]


def echo_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "hotpotqa", "--data", str(data), "--out", str(out),
            "--backend", "echo", "--max-length", "200", "--no-progress", *extra]


def run_json(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def counts(info: dict) -> tuple:
    """What run.json says the folder holds."""
    return info["records"], info["truncated"], info["tokens"]


def start(argv: list[str], delay: float) -> subprocess.Popen:
    """`longeval ...` in its own process (and process group), the echo engine taking `delay` s per call."""
    env = {**os.environ, "LONGEVAL_ECHO_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, "-m", "longeval", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def lines_in(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else 0


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


# ---------------------------------------------------------------------------------------------------- resume

def test_a_resumed_run_predicts_only_what_is_left_and_equals_an_uninterrupted_one(tmp_path, echo_model):
    data = make_data(tmp_path / "lb", n=8)
    assert main(echo_args(echo_model, data, tmp_path / "whole", "--run-name", "r")) == 0
    whole = tmp_path / "whole" / "r"
    assert main(echo_args(echo_model, data, tmp_path / "parts", "--run-name", "r", "--limit", "3")) == 0
    parts = tmp_path / "parts" / "r"
    assert sorted(preds_by_id(parts / "pred" / "hotpotqa.jsonl")) == [f"hotpotqa-{i:02d}" for i in range(3)]
    assert run_json(parts)["limit"] == 3 and run_json(parts)["records"]["hotpotqa"] == {"done": 3, "total": 3}
    # Without the limit the same folder is extended to every record.
    assert main(echo_args(echo_model, data, tmp_path / "parts", "--run-name", "r")) == 0
    assert preds_by_id(parts / "pred" / "hotpotqa.jsonl") == preds_by_id(whole / "pred" / "hotpotqa.jsonl")
    info = run_json(parts)
    assert info["limit"] is None and info["sessions"] == 2 and info["status"] == "complete"
    assert counts(info) == counts(run_json(whole))
    assert info["truncated"]["hotpotqa"] >= 1  # make_data makes records longer than the budget


def test_a_lower_limit_on_resume_is_refused_and_the_folder_left_as_it_was(tmp_path, capsys, echo_model):
    data = make_data(tmp_path / "lb", n=6)
    out = tmp_path / "runs"
    assert main(echo_args(echo_model, data, out, "--run-name", "r", "--limit", "4")) == 0
    before = (out / "r" / "run.json").read_bytes(), (out / "r" / "pred" / "hotpotqa.jsonl").read_bytes()
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, out, "--run-name", "r", "--limit", "2"),
                     "4 hotpotqa predictions", "--limit 2")
    assert ((out / "r" / "run.json").read_bytes(), (out / "r" / "pred" / "hotpotqa.jsonl").read_bytes()) == before
    # The same limit resumes (nothing left to do) and run.json still says what the folder holds.
    assert main(echo_args(echo_model, data, out, "--run-name", "r", "--limit", "4")) == 0
    info = run_json(out / "r")
    assert info["limit"] == 4 and info["records"]["hotpotqa"] == {"done": 4, "total": 4}


@pytest.fixture
def own_task_registry(monkeypatch):
    """--tasks-path adds to the process's task registry: this test's tasks leave with it."""
    from longeval import tasks as tasks_module

    monkeypatch.setattr(tasks_module, "_user_dirs", [])
    tasks_module.clear_cache()
    yield
    tasks_module._user_dirs.clear()
    tasks_module.clear_cache()


def test_a_generated_task_grows_with_a_higher_limit_unless_its_records_changed(tmp_path, capsys, echo_model,
                                                                               own_task_registry):
    """Generated records are hashed as made, so --limit 3 then 6 hashes different sets: the run grows when its first
    3 records are the ones it already predicted, and is refused when the generator makes other ones."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    yaml = (ROOT / "tasks" / "passkey" / "passkey.yaml").read_text(encoding="utf-8")
    yaml = yaml.replace("name: passkey", "name: mykey")
    (tasks / "mykey.yaml").write_text(yaml, encoding="utf-8")

    def argv(limit: str, run_name: str = "r") -> list[str]:
        return ["run", "--model", str(echo_model), "--tasks", "mykey", "--tasks-path", str(tasks), "--data",
                "generated", "--out", str(tmp_path / "runs"), "--run-name", run_name, "--backend", "echo",
                "--max-length", "200", "--no-progress", "--limit", limit]

    folder = tmp_path / "runs" / "r"
    assert main(argv("3")) == 0
    first = preds_by_id(folder / "pred" / "mykey.jsonl")
    assert main(argv("6")) == 0
    grown = preds_by_id(folder / "pred" / "mykey.jsonl")
    assert len(grown) == 6 and {key: grown[key] for key in first} == first
    assert run_json(folder)["limit"] == 6 and run_json(folder)["records"]["mykey"] == {"done": 6, "total": 6}
    assert main(argv("6", "whole")) == 0  # the grown run holds what one run of 6 records holds
    assert preds_by_id(tmp_path / "runs" / "whole" / "pred" / "mykey.jsonl") == grown
    # Other records under the same name (another seed): refused, the folder left as it was.
    (tasks / "mykey.yaml").write_text(yaml.replace("seed: 0", "seed: 1"), encoding="utf-8")
    before = (folder / "run.json").read_bytes()
    assert_exit_2_one_line(capsys, argv("9"), "mykey.generated", "checksum changed")
    assert (folder / "run.json").read_bytes() == before


def test_length_sweep_on_echo_makes_one_complete_run_per_length(tmp_path, capsys, echo_model):
    data = make_data(tmp_path / "lb", n=3)
    argv = echo_args(echo_model, data, tmp_path / "runs", "--method", "yarn")
    argv[argv.index("--max-length") + 1] = "120,300"
    assert main(argv) == 0
    infos = sorted((run_json(p) for p in (tmp_path / "runs").iterdir()), key=lambda i: i["max_length"])
    assert [i["max_length"] for i in infos] == [120, 300]
    assert all(i["status"] == "complete" and i["records"]["hotpotqa"]["done"] == 3 for i in infos)
    # A shorter budget cuts more prompts, and the prompts it sends are shorter.
    assert infos[0]["truncated"]["hotpotqa"] >= infos[1]["truncated"]["hotpotqa"]
    assert infos[0]["tokens"]["prompt"] < infos[1]["tokens"]["prompt"]


def test_write_unit_is_separate_from_the_engine_batch(tmp_path, echo_model, monkeypatch):
    """Engine calls and durable writes are counted by wrapping the real methods (they still run)."""
    from longeval.backends.echo import EchoBackend
    from longeval.runs.folder import RunFolder

    calls: list[int] = []
    writes: list[int] = []
    generate, commit = EchoBackend.generate, RunFolder.commit
    monkeypatch.setattr(EchoBackend, "generate", lambda self, prompts, params: (
        calls.append(len(prompts)), generate(self, prompts, params))[1])
    monkeypatch.setattr(RunFolder, "commit", lambda self, task, base, lines, entries: (
        writes.append(len(lines)), commit(self, task, base, lines, entries))[1])
    data = make_data(tmp_path / "lb", n=8)
    results = {}
    for batch, every, expected_calls, expected_writes in ((4, "2", [4, 4], [2, 2, 2, 2]),
                                                          (2, "8", [2, 2, 2, 2], [8]),
                                                          (4, None, [4, 4], [4, 4])):
        calls.clear()
        writes.clear()
        argv = echo_args(echo_model, data, tmp_path / f"{batch}-{every}", "--run-name", "r", "--batch-size",
                         str(batch), *(["--write-every", every] if every else []))
        assert main(argv) == 0
        assert (calls, writes) == (expected_calls, expected_writes)
        results[every] = preds_by_id(tmp_path / f"{batch}-{every}" / "r" / "pred" / "hotpotqa.jsonl")
        assert run_json(tmp_path / f"{batch}-{every}" / "r")["records"]["hotpotqa"] == {"done": 8, "total": 8}
    assert results["2"] == results["8"] == results[None]


# ---------------------------------------------------------------------------------------------- kill + counts

def test_counts_after_kill_and_resume_equal_what_the_pred_files_hold(tmp_path, echo_model):
    data = make_data(tmp_path / "lb", n=10)
    args = ("--run-name", "r", "--batch-size", "1")
    assert main(echo_args(echo_model, data, tmp_path / "whole", *args)) == 0
    killed = tmp_path / "killed" / "r"
    pred = killed / "pred" / "hotpotqa.jsonl"
    for stop_after in (2, 5):  # two kills: counts must not grow with the number of sessions
        process = start(echo_args(echo_model, data, tmp_path / "killed", *args), delay=0.2)
        wait_for(lambda n=stop_after: lines_in(pred) >= n, process, f"{stop_after} predictions")
        kill(process)
        info = run_json(killed)
        held = preds_by_id(pred)
        assert info["status"] == "partial" and info["records"]["hotpotqa"]["total"] == 10
        # run.json may lag the pred file by the unit in flight, never lead it.
        assert info["records"]["hotpotqa"]["done"] <= len(held) < 10
    assert main(echo_args(echo_model, data, tmp_path / "killed", *args)) == 0
    info, whole = run_json(killed), run_json(tmp_path / "whole" / "r")
    assert preds_by_id(pred) == preds_by_id(tmp_path / "whole" / "r" / "pred" / "hotpotqa.jsonl")
    assert info["sessions"] == 3 and info["status"] == "complete"
    assert counts(info) == counts(whole)


def test_a_run_stopped_before_its_first_prediction_does_not_lock_its_folder(tmp_path, capsys, echo_model):
    # Killed while its first batch is in the engine: run.json exists, no prediction does. A corrected command
    # (other settings) must then run in the same folder: nothing was predicted, so nothing can be mixed.
    data = make_data(tmp_path / "lb", n=2)
    folder = tmp_path / "runs" / "r"
    process = start(echo_args(echo_model, data, tmp_path / "runs", "--run-name", "r", "--chat-template", "llama2"),
                    delay=30)
    wait_for(lambda: (folder / "run.json").is_file(), process, "run.json")
    kill(process)
    assert run_json(folder)["settings"]["chat_wrapper"] == "llama2"
    assert lines_in(folder / "pred" / "hotpotqa.jsonl") == 0
    assert main(echo_args(echo_model, data, tmp_path / "runs", "--run-name", "r", "--chat-template", "none")) == 0
    info = run_json(folder)
    assert info["status"] == "complete" and info["settings"]["chat_wrapper"] == "none" and info["sessions"] == 1


def test_a_run_refused_before_its_first_prediction_leaves_nothing_behind(tmp_path, capsys, echo_model, monkeypatch):
    data = make_data(tmp_path / "lb", n=1)
    monkeypatch.setenv("LONGEVAL_ECHO_DELAY", "soon")  # refused when the engine is built, after the folder exists
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, tmp_path / "runs", "--run-name", "r"),
                           "LONGEVAL_ECHO_DELAY")
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------------- one writer

def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path, echo_model):
    data = make_data(tmp_path / "lb", n=3)
    argv = echo_args(echo_model, data, tmp_path / "runs", "--run-name", "r", "--batch-size", "1")
    pred = tmp_path / "runs" / "r" / "pred" / "hotpotqa.jsonl"
    # 60 s per engine call: the first writer is still in flight however slowly the second starts on a busy machine.
    first = start(argv, delay=60)
    try:
        wait_for(lambda: (tmp_path / "runs" / "r" / "run.json").is_file(), first, "the run folder")
        second = start(argv, delay=0)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert_one_line_error(err, f"pid {first.pid}")
        assert first.poll() is None, "the refusal should come while the first run still writes"
    finally:
        kill(first)
    assert main(argv) == 0  # the refused writer wrote nothing: the resumed run completes every record once
    assert len(preds_by_id(pred)) == 3  # every _id once (preds_by_id asserts no duplicate)
    # A writer killed with -9 holds nothing: the kernel released its lock, the next run resumes.
    shutil.rmtree(tmp_path / "runs")
    holder = start(argv, delay=1)
    wait_for(lambda: lines_in(pred) >= 1, holder, "the first prediction")
    kill(holder)
    assert main(argv) == 0
    assert len(preds_by_id(pred)) == 3 and run_json(tmp_path / "runs" / "r")["status"] == "complete"


# ------------------------------------------------------------------------------------------------------ identity

def test_resuming_with_other_weights_is_refused(tmp_path, capsys, echo_model):
    model = tmp_path / "ckpt"
    shutil.copytree(echo_model, model)
    data = make_data(tmp_path / "lb", n=2)
    out = tmp_path / "runs"
    assert main(echo_args(model, data, out, "--run-name", "r", "--limit", "1")) == 0
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[::-1])  # same names, same size, same config: other weights
    assert_exit_2_one_line(capsys, echo_args(model, data, out, "--run-name", "r"), "other settings",
                     "model_weights_sha256")
    assert run_json(out / "r")["records"]["hotpotqa"]["done"] == 1
    # An added shard is other weights too.
    weights.write_bytes(weights.read_bytes()[::-1])
    (model / "extra.safetensors").write_bytes(b"x")
    assert_exit_2_one_line(capsys, echo_args(model, data, out, "--run-name", "r"), "model_weights_sha256")


def test_default_run_names_of_same_named_checkpoints_do_not_collide(tmp_path, echo_model):
    data = make_data(tmp_path / "lb", n=1)
    for experiment in ("exp1", "exp2"):
        shutil.copytree(echo_model, tmp_path / experiment / "model")
        assert main(echo_args(tmp_path / experiment / "model", data, tmp_path / "runs")) == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    assert {run_json(f)["model"]["path"] for f in folders} == {str((tmp_path / e / "model").resolve())
                                                               for e in ("exp1", "exp2")}


# ------------------------------------------------------------------------------------------------ engine reuse

def test_a_length_sweep_of_one_method_starts_one_engine_but_dynamic_ntk_one_per_length(tmp_path, echo_model):
    data = make_data(tmp_path / "lb", n=2)
    reused = {}
    for method in ("yarn", "dynamic-ntk"):
        argv = echo_args(echo_model, data, tmp_path / method, "--method", method)
        argv[argv.index("--max-length") + 1] = "120,300,200"
        assert main(argv) == 0
        infos = sorted((run_json(p) for p in (tmp_path / method).iterdir()), key=lambda i: i["max_length"])
        assert [i["max_length"] for i in infos] == [120, 200, 300]
        assert all(i["status"] == "complete" for i in infos)
        reused[method] = sorted(i["backend"]["engine_reused"] for i in infos)
    assert reused == {"yarn": [False, True, True], "dynamic-ntk": [False, False, False]}
    # The shared engine changed nothing: each length's predictions equal those of a run of that length alone.
    for length in ("120", "300"):
        alone = tmp_path / f"alone{length}"
        argv = echo_args(echo_model, data, alone, "--method", "yarn", "--run-name", "r")
        argv[argv.index("--max-length") + 1] = length
        assert main(argv) == 0
        swept = next(p for p in (tmp_path / "yarn").iterdir() if p.name.endswith(f"_{length}"))
        assert preds_by_id(alone / "r" / "pred" / "hotpotqa.jsonl") == preds_by_id(swept / "pred" / "hotpotqa.jsonl")


@pytest.mark.slow
@pytest.mark.vllm
def test_a_vllm_sweep_on_one_engine_predicts_what_one_engine_per_length_does(tmp_path, tiny_model, monkeypatch):
    """abf's engine config grows with the engine length (max_position_embeddings), so the shared engine, built for
    the longest run, differs from the shorter run's own engine: their greedy outputs must not."""
    pytest.importorskip("vllm")
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    data = make_data(tmp_path / "lb", n=3)

    def vllm_args(out: Path, lengths: str) -> list[str]:
        argv = echo_args(tiny_model, data, out, "--method", "abf", "--run-name", "r")
        argv[argv.index("--backend") + 1] = "vllm"
        argv[argv.index("--max-length") + 1] = lengths
        return argv

    assert main(vllm_args(tmp_path / "sweep", "150,400")) == 0
    assert [run_json(tmp_path / "sweep" / f"r_{n}")["backend"]["engine_reused"] for n in (150, 400)] == [False, True]
    assert main(vllm_args(tmp_path / "alone", "150")) == 0
    alone = preds_by_id(tmp_path / "alone" / "r" / "pred" / "hotpotqa.jsonl")
    assert alone == preds_by_id(tmp_path / "sweep" / "r_150" / "pred" / "hotpotqa.jsonl")
    assert any(line["pred"] for line in alone.values())


def test_after_the_ledger_is_deleted_a_resume_recomputes_the_counts_it_can_and_says_what_it_cannot(
        tmp_path, capsys, echo_model):
    data = make_data(tmp_path / "lb", n=5)
    args = ("--run-name", "r", "--batch-size", "1")
    assert main(echo_args(echo_model, data, tmp_path / "whole", *args)) == 0
    whole = run_json(tmp_path / "whole" / "r")
    assert main(echo_args(echo_model, data, tmp_path / "runs", *args, "--limit", "3")) == 0
    folder = tmp_path / "runs" / "r"
    (folder / "ledger.jsonl").unlink()
    capsys.readouterr()
    assert main(echo_args(echo_model, data, tmp_path / "runs", *args)) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "ledger.jsonl" in warnings[0] and "3 predictions" in warnings[0], warnings
    info = run_json(folder)
    assert info["status"] == "complete"
    assert info["truncated"] == whole["truncated"] and info["tokens"]["prompt"] == whole["tokens"]["prompt"]
    assert info["tokens"]["generated"] < whole["tokens"]["generated"]  # the 3 unknown ones are left out, said above
