"""A full disk (ENOSPC) during a run, or at a new run's start, ends it with one line and exit 2, and leaves nothing
half-made: no torn line, no run.lock, no empty pred/, no run.json without a prediction; the same command resumes
once there is room, to the folder an uninterrupted run makes.

The fault-injection tests patch os.write to fail with ENOSPC on the run folder's files only (they run anywhere);
the tmpfs tests fill a real small file system and need root to mount it (skipped with the reason elsewhere).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pytest
from helpers import assert_exit_2_one_line
from test_run_folder import counts, echo_args, run_json
from test_runner import make_data, preds_by_id

from longeval.cli import main

ARGS = ("--run-name", "r", "--batch-size", "1")


def whole_run(tmp_path: Path, model: Path, data: Path) -> Path:
    assert main(echo_args(model, data, tmp_path / "whole", *ARGS)) == 0
    return tmp_path / "whole" / "r"


def assert_equal_runs(folder: Path, whole: Path) -> None:
    assert preds_by_id(folder / "pred" / "hotpotqa.jsonl") == preds_by_id(whole / "pred" / "hotpotqa.jsonl")
    assert (folder / "pred" / "result.json").read_text() == (whole / "pred" / "result.json").read_text()
    assert run_json(folder)["status"] == "complete" and counts(run_json(folder)) == counts(run_json(whole))


def fail_writes(monkeypatch: pytest.MonkeyPatch, under: Path, name: str, after: int) -> None:
    """os.write on files named `name` under `under` fails with ENOSPC from the (after+1)-th call on, having
    written part of its bytes first (as a disk that fills up in the middle of a write does)."""
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(under)) and Path(target).name == name:
            calls["n"] += 1
            if calls["n"] > after:
                if len(data) > 1 and calls["n"] == after + 1:
                    real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("name", ["ledger.jsonl", "hotpotqa.jsonl"])
def test_a_full_disk_at_the_first_write_leaves_nothing(tmp_path, capsys, echo_model, monkeypatch, name):
    data = make_data(tmp_path / "lb", n=4)
    fail_writes(monkeypatch, tmp_path / "runs", name, after=0)
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, tmp_path / "runs", *ARGS), name,
                           os.strerror(errno.ENOSPC))
    assert not (tmp_path / "runs").exists(), list((tmp_path / "runs").rglob("*"))


@pytest.mark.parametrize("name, after", [("ledger.jsonl", 2), ("hotpotqa.jsonl", 3)])
def test_a_full_disk_in_the_middle_keeps_whole_lines_and_resumes_to_the_uninterrupted_run(
        tmp_path, capsys, echo_model, monkeypatch, name, after):
    data = make_data(tmp_path / "lb", n=6)
    whole = whole_run(tmp_path, echo_model, data)
    with monkeypatch.context() as patch:
        fail_writes(patch, tmp_path / "runs", name, after=after)
        assert_exit_2_one_line(capsys, echo_args(echo_model, data, tmp_path / "runs", *ARGS), name,
                               "run the same command again")
    folder = tmp_path / "runs" / "r"
    pred = folder / "pred" / "hotpotqa.jsonl"
    assert pred.read_bytes().endswith(b"\n") and (folder / "ledger.jsonl").read_bytes().endswith(b"\n")
    held = preds_by_id(pred)
    assert 0 < len(held) < 6 and run_json(folder)["records"]["hotpotqa"]["done"] == len(held)
    assert main(echo_args(echo_model, data, tmp_path / "runs", *ARGS)) == 0
    assert_equal_runs(folder, whole)


# ------------------------------------------------------------------------------------ a real full file system

@pytest.fixture
def small_fs(tmp_path: Path):
    """A 1 MiB tmpfs (root only) and a way to fill it up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the fault-injection tests above cover the same paths)")
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def fill(mount: Path) -> Path:
    filler = mount / "filler"
    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)
    return filler


def test_a_new_run_on_a_full_file_system_leaves_nothing(small_fs, tmp_path, capsys, echo_model):
    data = make_data(tmp_path / "lb", n=2)
    fill(small_fs)
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, small_fs / "runs", *ARGS),
                           os.strerror(errno.ENOSPC))
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]


def test_a_run_that_fills_the_file_system_resumes_once_there_is_room(small_fs, tmp_path, capsys, echo_model):
    data = make_data(tmp_path / "lb", n=5)
    whole = whole_run(tmp_path, echo_model, data)
    assert main(echo_args(echo_model, data, small_fs / "runs", *ARGS, "--limit", "2")) == 0
    filler = fill(small_fs)
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, small_fs / "runs", *ARGS),
                           os.strerror(errno.ENOSPC))
    folder = small_fs / "runs" / "r"
    held = preds_by_id(folder / "pred" / "hotpotqa.jsonl")
    assert len(held) >= 2 and run_json(folder)["records"]["hotpotqa"]["done"] <= len(held)
    assert not list(folder.rglob("*.tmp"))
    filler.unlink()
    assert main(echo_args(echo_model, data, small_fs / "runs", *ARGS)) == 0
    assert_equal_runs(folder, whole)
