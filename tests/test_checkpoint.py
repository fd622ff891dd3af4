"""One checkpoint resolver for every command that takes a model: a folder, a GGUF file or a hub id work (or are
refused the same way) in run, prompts, extend, serve, entropy and finetune. The hub is unreachable here: a hub
id not in the cache is refused offline, which is what these tests check the commands reach."""

from __future__ import annotations

import pytest
from helpers import assert_exit_2_one_line

from longeval.checkpoint import resolve_checkpoint


def test_a_local_folder_is_itself(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    checkpoint = resolve_checkpoint(folder)
    assert (checkpoint.folder, checkpoint.name, checkpoint.gguf) == (folder, "my-model", None)
    assert checkpoint.hub.provenance() == {}


@pytest.mark.parametrize("argv", [
    ["entropy", "--model", "someone/not-cached", "--method", "none", "--lengths", "64", "--text", "x.txt",
     "--out", "OUT"],
    ["finetune", "--model", "someone/not-cached", "--method", "pi:factor=2", "--data", "x.jsonl",
     "--out", "OUT"],
    ["extend", "someone/not-cached", "--method", "pi:factor=2", "--out", "OUT"],
])
def test_entropy_finetune_and_extend_take_hub_ids(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "x.txt").write_text("some text " * 50)
    (tmp_path / "x.jsonl").write_text("")
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    assert_exit_2_one_line(capsys, argv, "someone/not-cached is not in the Hugging Face cache")
