"""`longeval check` exit codes on real LongBench results (tests/fixtures/real-preds, unpacked into tmp_path).

The expected drops are computed here from the result.json files, not by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error, unpack_real_preds

from longeval.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_real_preds(tmp_path_factory.mktemp("check"), ("llama2-7b", "llama2-7b-chat"))


def scores(folder: Path) -> dict[str, float]:
    return json.loads((folder / "result.json").read_text(encoding="utf-8"))


def macro(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values)


def check(*args: str) -> int:
    return main(["check", *map(str, args)])


def test_better_run_passes_worse_run_fails(runs, capsys):
    base, chat = runs / "llama2-7b", runs / "llama2-7b-chat"
    assert macro(scores(chat)) > macro(scores(base)) + 1
    # chat is better on average: passes on the macro alone ...
    assert check(chat, "--baseline", base, "--max-task-drop", "none") == 0
    out = capsys.readouterr().out
    assert "PASS" in out and f"{macro(scores(base)):.2f} → {macro(scores(chat)):.2f}" in out
    # ... but loses more than 5 points on some tasks (e.g. lcc), which the default per-task rule catches.
    assert scores(base)["lcc"] - scores(chat)["lcc"] > 5
    assert check(chat, "--baseline", base) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "lcc" in out.split("Failed because:")[1]
    # The base model is far worse than the chat model: the macro rule fails it.
    assert check(base, "--baseline", chat, "--max-task-drop", "none") == 1
    drop = macro(scores(chat)) - macro(scores(base))
    assert f"macro dropped {drop:.2f} points" in capsys.readouterr().out


def test_allowance_is_inclusive(runs, capsys):
    base, chat = runs / "llama2-7b", runs / "llama2-7b-chat"
    drop = round(macro(scores(chat)) - macro(scores(base)), 6)
    worst = max(scores(chat)[t] - scores(base)[t] for t in scores(chat))
    assert check(base, "--baseline", chat, "--max-drop", f"{drop + 0.01}", "--max-task-drop", f"{worst:.2f}") == 0
    assert check(base, "--baseline", chat, "--max-drop", f"{drop - 0.01}", "--max-task-drop", "none") == 1
    assert check(base, "--baseline", chat, "--max-drop", "100", "--max-task-drop", f"{worst - 0.01:.2f}") == 1
    assert check(base, "--baseline", base, "--max-drop", "0", "--max-task-drop", "0") == 0
    capsys.readouterr()


def test_csv_baseline_from_report(runs, tmp_path, capsys):
    board = tmp_path / "board.csv"
    assert main(["report", str(runs), "--format", "csv", "--out", str(board)]) == 0
    assert check(runs / "llama2-7b", "--baseline", board) == 2  # two runs in it: which one?
    assert "--baseline-run" in capsys.readouterr().err
    assert check(runs / "llama2-7b", "--baseline", board, "--baseline-run", "llama2-7b") == 0
    assert check(runs / "llama2-7b", "--baseline", board, "--baseline-run", "llama2-7b-chat") == 1
    assert check(runs / "llama2-7b", "--baseline", board, "--baseline-run", "gpt") == 2


def test_missing_task_fails_unless_allowed(runs, tmp_path, capsys):
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    values = scores(runs / "llama2-7b")
    del values["trec"]
    (fewer / "result.json").write_text(json.dumps(values))
    assert check(fewer, "--baseline", runs / "llama2-7b") == 1
    assert "missing from the run" in capsys.readouterr().out
    assert check(fewer, "--baseline", runs / "llama2-7b", "--allow-missing") == 0


@pytest.mark.parametrize("make_baseline, message", [
    (lambda tmp: tmp / "absent", "no such file or folder"),
    (lambda tmp: _write(tmp / "other" / "result.json", '{"some_new_task": 50.0}').parent, "no task in common"),
    (lambda tmp: _write(tmp / "bad.csv", "model,score\nx,1\n"), "no 'run' column"),
    (lambda tmp: _write(tmp / "nan.csv", "run,trec\nx,high\n"), "not a number"),
    (lambda tmp: _write(tmp / "notes.txt", "hello"), "expected a run folder"),
])
def test_unusable_input_exits_2(runs, tmp_path, capsys, make_baseline, message):
    assert check(runs / "llama2-7b", "--baseline", make_baseline(tmp_path)) == 2
    assert_one_line_error(capsys.readouterr().err, message)


def test_run_dir_must_be_one_run(runs, capsys):
    assert check(runs, "--baseline", runs / "llama2-7b") == 2
    assert "expected one run" in capsys.readouterr().err


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_summary_is_appended_to_github_step_summary(runs, tmp_path, monkeypatch, capsys):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert check(runs / "llama2-7b-chat", "--baseline", runs / "llama2-7b", "--max-task-drop", "none") == 0
    passed = capsys.readouterr().out
    assert check(runs / "llama2-7b", "--baseline", runs / "llama2-7b-chat") == 1
    failed = capsys.readouterr().out
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("### longeval check:") == 2
    assert passed in text and failed in text and text.index(passed) < text.index(failed)  # as printed, in order
