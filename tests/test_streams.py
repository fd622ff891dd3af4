"""Output streams: results on stdout, warnings and logs on stderr, and a reader that goes away is no error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_runner import make_data


def run_with_closed_stdout(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`longeval ARGS | head -0`, deterministically: the reading end is closed before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "longeval", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, cwd=cwd, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    finally:
        os.close(write_end)


def test_tasks_into_a_closed_pipe_ends_quietly():
    done = run_with_closed_stdout("tasks")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.slow
def test_run_into_a_closed_pipe_finishes_the_run_quietly(tmp_path, tiny_model):
    """A reader gone mid-run (`run ... | head -1`) must not stop the run: its output just has nowhere to go."""
    data = make_data(tmp_path / "lb", n=2)
    done = run_with_closed_stdout("run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(data),
                                  "--out", str(tmp_path / "runs"), "--backend", "hf", "--max-length", "120,160",
                                  "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    for folder in (tmp_path / "runs").iterdir():  # both runs of the sweep ran to the end
        assert json.loads((folder / "run.json").read_text())["status"] == "complete"
    assert len(list((tmp_path / "runs").iterdir())) == 2


def run_longeval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "longeval", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                               "VLLM_CPU_KVCACHE_SPACE": "1"})


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("progress", [True, False], ids=["default", "no-progress"])
def test_vllm_logs_go_to_stderr_and_their_info_lines_stay_out(tmp_path, tiny_model, progress):
    """vLLM prints its INFO lines (dozens, and a config dump) on stdout by itself; a plain run shows longeval's
    lines and its bars only, and --no-progress also hides vLLM's checkpoint-loading bar."""
    pytest.importorskip("vllm")
    data = make_data(tmp_path / "lb", n=1)
    done = run_longeval("run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(data),
                        "--out", str(tmp_path / "runs"), "--backend", "vllm", "--max-length", "100",
                        *([] if progress else ["--no-progress"]), "--run-name", "v")
    assert done.returncode == 0, done.stderr[-3000:]
    assert " INFO " not in done.stdout and " INFO " not in done.stderr, (done.stdout + done.stderr)[-3000:]
    assert ("Loading safetensors checkpoint shards" in done.stderr) == progress, done.stderr[-3000:]
    assert ("hotpotqa: 100%" in done.stderr) == progress, done.stderr[-3000:]
    assert ("starting the vllm engine (none, " in done.stderr) == progress  # the phase before the first bar
    assert " WARNING " not in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    # longeval's own lines only: the banner, the outcome, the score table
    assert lines[0].startswith("run v: ") and lines[1].startswith(str(tmp_path / "runs" / "v") + ": complete")
    assert lines[2].split() == ["task", "v"] and lines[4].split()[0] == "hotpotqa" and len(lines) == 5


@pytest.mark.slow
def test_warnings_go_to_stderr_and_the_banner_names_the_chat_wrapper(tmp_path, capsys, tiny_model):
    """stdout holds results (a script may parse them); a warning there would be read as one."""
    from longeval.cli import main

    data = make_data(tmp_path / "lb", n=1)
    argv = ["run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(data), "--out",
            str(tmp_path / "runs"), "--backend", "hf", "--method", "none", "--max-length", "400", "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "warning:" not in captured.out and "exceed the" not in captured.out
    warning = [line for line in captured.err.splitlines() if "exceed the 256 that method none covers" in line]
    assert len(warning) == 1 and warning[0].startswith("longeval run: warning: "), captured.err
    banner = captured.out.splitlines()[0]
    # the wrapper is named as a chat wrapper, not as something that reads like the backend ("hf")
    assert "chat wrapper: hf template" in banner and "hf chat wrapper" not in banner, banner


@pytest.mark.slow
def test_a_passkey_run_names_no_chat_wrapper(tmp_path, capsys, echo_model):
    """passkey has `chat: false`: its prompts carry no template, so the banner must not name one (the echo engine
    stands in for a model: only the banner is looked at)."""
    from longeval.cli import main

    assert main(["run", "--model", str(echo_model), "--tasks", "passkey", "--limit", "1", "--max-length", "200",
                 "--out", str(tmp_path / "runs"), "--backend", "echo", "--method", "none", "--no-progress"]) == 0
    banner = capsys.readouterr().out.splitlines()[0]
    assert "chat wrapper: none (its tasks have chat: false)" in banner and "hf template" not in banner, banner
