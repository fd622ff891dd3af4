"""Nothing inside a run folder is followed out of it: a symbolic link planted there (pred/, a pred file, run.lock,
the ledger, run.json) has the folder refused in one line, and the file outside is neither written nor truncated;
the appends themselves open with O_NOFOLLOW, so a link planted while a run writes is not followed either."""

from __future__ import annotations

import pytest
from helpers import assert_exit_2_one_line
from test_run_folder import echo_args
from test_runner import make_data

from longeval.errors import UserError
from longeval.runs.folder import append_durably


@pytest.mark.parametrize("inside", ["pred/hotpotqa.jsonl", "run.lock", "ledger.jsonl", "run.json", "pred"])
@pytest.mark.parametrize("resumed", [False, True])
def test_a_link_planted_in_a_run_folder_is_not_followed(tmp_path, capsys, echo_model, inside, resumed):
    data = make_data(tmp_path / "lb", n=3)
    out = tmp_path / "runs"
    folder = out / "r"
    if resumed:
        from longeval.cli import main

        assert main(echo_args(echo_model, data, out, "--run-name", "r", "--limit", "1")) == 0
    outside = tmp_path / "elsewhere" / ("dir" if inside == "pred" else "file")
    if inside == "pred":
        outside.mkdir(parents=True)
        (outside / "keep.txt").write_text("precious\n")
    else:
        outside.parent.mkdir()
        outside.write_text("precious\n")
    link = folder / inside
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir():
        import shutil

        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(outside)
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, out, "--run-name", "r"), "symbolic link",
                           inside, str(outside))
    if inside == "pred":
        assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    else:
        assert outside.read_text() == "precious\n"
    assert link.is_symlink()


def test_appends_do_not_follow_a_link(tmp_path):
    target = tmp_path / "outside.jsonl"
    target.write_text("precious\n")
    link = tmp_path / "run" / "ledger.jsonl"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(UserError, match="symbolic link"):
        append_durably(link, [{"a": 1}])
    assert target.read_text() == "precious\n"
