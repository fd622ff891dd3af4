"""Atomic writes: a path that cannot be written is a located UserError, and nothing half-written is left."""

from __future__ import annotations

from pathlib import Path

import pytest

from longeval.errors import UserError
from longeval.io import write_atomic, write_bytes_atomic


def test_write_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    write_atomic(path, "first")
    write_atomic(path, "second ü")
    assert path.read_text(encoding="utf-8") == "second ü"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("writer,payload", [(write_atomic, "text"), (write_bytes_atomic, b"\x89PNG")])
def test_unwritable_targets_are_user_errors(tmp_path, writer, payload):
    folder_in_the_way = tmp_path / "result.json"
    folder_in_the_way.mkdir()
    with pytest.raises(UserError, match="cannot write here") as caught:
        writer(folder_in_the_way, payload)
    assert caught.value.path == str(folder_in_the_way)
    assert list(tmp_path.iterdir()) == [folder_in_the_way] and not any(folder_in_the_way.iterdir())

    a_file = tmp_path / "plain"
    a_file.write_text("x")
    with pytest.raises(UserError, match="cannot write here"):
        writer(a_file / "child.txt", payload)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("writer,payload", [(write_atomic, "text"), (write_bytes_atomic, b"\x89PNG")])
def test_written_files_get_the_mode_open_would_give_them(tmp_path, umask, writer, payload):
    """mkstemp's 0600 must not reach results others publish from: the mode is 0666 less the umask, as open()."""
    import os
    import stat

    old = os.umask(umask)
    try:
        writer(tmp_path / "new.json", payload)
        writer(tmp_path / "new.json", payload)  # a replaced file too
        with open(tmp_path / "by-open.json", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "new.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "by-open.json").stat().st_mode) == 0o666 & ~umask


def test_a_run_folder_is_readable_by_others(tmp_path, echo_model):
    """run.json and result.json as `longeval run` writes them (echo engine): 0644 under umask 022, not 0600."""
    import json
    import os
    import stat

    from longeval.cli import main

    (tmp_path / "lb" / "data").mkdir(parents=True)
    record = {"input": "q?", "context": "some context " * 20, "answers": ["a"], "length": 40, "all_classes": None,
              "_id": "hotpotqa-00"}
    (tmp_path / "lb" / "data" / "hotpotqa.jsonl").write_text(json.dumps(record) + "\n")
    old = os.umask(0o022)
    try:
        assert main(["run", "--model", str(echo_model), "--tasks", "hotpotqa", "--data", str(tmp_path / "lb"),
                     "--out", str(tmp_path / "runs"), "--backend", "echo", "--max-length", "100", "--run-name", "r",
                     "--no-progress"]) == 0
    finally:
        os.umask(old)
    folder = tmp_path / "runs" / "r"
    for path in (folder / "run.json", folder / "pred" / "result.json", folder / "pred" / "hotpotqa.jsonl"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_staged_tree_gets_the_modes_open_and_mkdir_give(tmp_path, umask):
    """A cache or checkpoint built in mkdtemp's private folder by a library writing 0600 files (safetensors)."""
    import os
    import stat
    import tempfile

    from longeval.io import usual_modes

    old = os.umask(umask)
    try:
        staging = Path(tempfile.mkdtemp(dir=tmp_path))
        (staging / "sub").mkdir(mode=0o700)
        fd = os.open(staging / "sub" / "model.safetensors", os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        usual_modes(staging)
        (tmp_path / "by-mkdir").mkdir()
        (tmp_path / "by-open").write_text("x")
    finally:
        os.umask(old)
    folder_mode, file_mode = (stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("by-mkdir", "by-open"))
    assert folder_mode == 0o777 & ~umask and file_mode == 0o666 & ~umask
    assert stat.S_IMODE(staging.stat().st_mode) == stat.S_IMODE((staging / "sub").stat().st_mode) == folder_mode
    assert stat.S_IMODE((staging / "sub" / "model.safetensors").stat().st_mode) == file_mode
