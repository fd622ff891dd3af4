"""The gate judges only what it can: a score that is not a finite number in [0, 100] (in a run or a baseline, in
result.json or a CSV cell) is refused with its file and task named, and a CSV baseline is checked on the records
behind its scores (count, _ids, data checksums) as a run folder is, or the gate says it cannot check them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_exit_2_one_line
from test_check import _preds, _run_folder

from longeval.cli import main

DATA = {"triviaqa.jsonl": "a" * 64, "hotpotqa.jsonl": "c" * 64}


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    """A baseline and a run 50 points worse on hotpotqa: a gate that sees the scores fails the run."""
    base = _run_folder(tmp_path, "base", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1}),
                                          "hotpotqa": _preds("hotpotqa", [0, 1], {0, 1})}, data=DATA)
    worse = _run_folder(tmp_path, "worse", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1}),
                                            "hotpotqa": _preds("hotpotqa", [0, 1], {0})}, data=DATA)
    return base, worse


def _set_score(folder: Path, task: str, text: str) -> None:
    """Write a raw JSON value (NaN and Infinity are what Python's json.dump writes) as a task's score."""
    result = folder / "pred" / "result.json"
    doc = json.loads(result.read_text())
    doc[task] = "@@"
    result.write_text(json.dumps(doc).replace('"@@"', text))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "100.5", "-3", "1e308"])
@pytest.mark.parametrize("where", ["run", "baseline"])
def test_a_score_that_is_not_a_finite_number_in_range_is_refused_with_file_and_task(tmp_path, capsys, value,
                                                                                   where):
    base, worse = _pair(tmp_path)
    assert main(["check", str(worse), "--baseline", str(base)]) == 1  # the drop on hotpotqa is seen
    capsys.readouterr()
    broken = worse if where == "run" else base
    _set_score(broken, "triviaqa", value)
    assert_exit_2_one_line(capsys, ["check", str(worse), "--baseline", str(base)],
                           str(broken / "pred" / "result.json"), "triviaqa", "[0, 100]")


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "101", "-0.5"])
def test_a_csv_cell_that_is_not_a_finite_score_is_refused_with_line_and_task(tmp_path, capsys, cell):
    base, worse = _pair(tmp_path)
    board = tmp_path / "board.csv"
    assert main(["report", str(base), "--format", "csv", "--out", str(board)]) == 0
    header, row = board.read_text().splitlines()
    columns = header.split(",")
    cells = row.split(",")
    cells[columns.index("triviaqa")] = cell
    board.write_text(header + "\n" + ",".join(cells) + "\n")
    assert_exit_2_one_line(capsys, ["check", str(worse), "--baseline", str(board)], str(board) + ":2",
                           "triviaqa")


def test_a_csv_baseline_is_checked_on_its_records_as_a_folder_baseline_is(tmp_path, capsys):
    full = _run_folder(tmp_path, "full", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1})},
                       data={"triviaqa.jsonl": "a" * 64})
    board = tmp_path / "board.csv"
    assert main(["report", str(full), "--format", "csv", "--out", str(board)]) == 0
    capsys.readouterr()
    assert main(["check", str(full), "--baseline", str(board)]) == 0  # itself: same records, same data
    assert capsys.readouterr().err == ""
    limited = _run_folder(tmp_path, "limited", {"triviaqa": _preds("triviaqa", [0, 1], {0, 1})}, limit=2,
                          data={"triviaqa.jsonl": "a" * 64})
    assert_exit_2_one_line(capsys, ["check", str(limited), "--baseline", str(board)], "2 records, the baseline 4")
    other_ids = _run_folder(tmp_path, "other-ids", {"triviaqa": _preds("triviaqa", [0, 1, 2, 9], {0, 1})},
                            data={"triviaqa.jsonl": "a" * 64})
    assert_exit_2_one_line(capsys, ["check", str(other_ids), "--baseline", str(board)], "other records")
    other_data = _run_folder(tmp_path, "other-data", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1})},
                             data={"triviaqa.jsonl": "b" * 64})
    assert_exit_2_one_line(capsys, ["check", str(other_data), "--baseline", str(board)],
                           "triviaqa.jsonl: other data")
    # A CSV re-exported by report (the runs read back from it) carries the same columns.
    again = tmp_path / "again.csv"
    assert main(["report", str(board), "--format", "csv", "--out", str(again)]) == 0
    assert_exit_2_one_line(capsys, ["check", str(limited), "--baseline", str(again)], "2 records, the baseline 4")


def test_a_csv_without_the_record_columns_is_said_to_be_unchecked(tmp_path, capsys):
    full = _run_folder(tmp_path, "full", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1})})
    old = tmp_path / "old.csv"  # as an older longeval report wrote it
    old.write_text("run,model,method,max_length,source,status,limit,bucket,triviaqa\nfull,,,,measured,complete,,,50.0\n")
    capsys.readouterr()
    assert main(["check", str(full), "--baseline", str(old)]) == 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot be checked" in err and str(old) in err, err
