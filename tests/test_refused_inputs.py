"""Inputs refused in one line, exit 2, with nothing written: the cases issue 23 found still accepted or ending in a
traceback (run names, serve lengths, method parameters, paths), each checked against the contract."""

from __future__ import annotations

import pytest
from helpers import assert_exit_2_one_line
from test_run_folder import echo_args
from test_runner import make_data


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "tab\there", "../up", "a/b", "..", "back\\slash"])
def test_a_run_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, capsys, echo_model, name):
    data = make_data(tmp_path / "lb", n=1)
    assert_exit_2_one_line(capsys, echo_args(echo_model, data, tmp_path / "runs", "--run-name", name), "--run-name")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "up").exists()
