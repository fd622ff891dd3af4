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
    capsys.readouterr()
    assert check(runs / "llama2-7b", "--baseline", board, "--baseline-run", "gpt") == 2
    assert "no run named 'gpt' in the baseline (it has: llama2-7b, llama2-7b-chat)" in capsys.readouterr().err


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


@pytest.mark.parametrize("flag, value", [("--max-drop", "nan"), ("--max-drop", "inf"), ("--max-drop", "-1"),
                                         ("--max-task-drop", "nan"), ("--max-task-drop", "inf"),
                                         ("--max-task-drop", "-0.5"), ("--max-drop", "-inf")])
def test_allowances_that_would_disarm_the_gate_are_refused(runs, capsys, flag, value):
    """NaN makes every comparison false (a 100-point drop would pass); inf and negatives are no allowance either."""
    base, chat = runs / "llama2-7b", runs / "llama2-7b-chat"
    assert check(base, "--baseline", chat, f"{flag}={value}") == 2
    err = capsys.readouterr().err
    assert flag in err and err.count("\n") == 1 and "Traceback" not in err


def _run_folder(root: Path, name: str, preds: dict[str, list[dict]], *, status: str = "complete",
                limit: int | None = None, data: dict[str, str] | None = None) -> Path:
    """A run folder as `longeval run` leaves it: run.json, pred/<task>.jsonl, pred/result.json (scored here)."""
    from longeval.scoring import score_folder

    folder = root / name
    (folder / "pred").mkdir(parents=True)
    for task, lines in preds.items():
        (folder / "pred" / f"{task}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    score_folder(folder / "pred")
    (folder / "run.json").write_text(json.dumps({
        "run_name": name, "status": status, "limit": limit, "data": {"files": data or {}},
        "records": {t: {"done": len(lines), "total": len(lines)} for t, lines in preds.items()}}))
    return folder


def _preds(task: str, ids: list[int], right: set[int]) -> list[dict]:
    return [{"pred": "yes" if i in right else "no", "answers": ["yes"], "all_classes": None, "length": 100,
             "_id": f"{task}-{i}"} for i in ids]


def test_runs_not_scored_on_the_same_records_are_refused_unless_allowed(tmp_path, capsys):
    full = _run_folder(tmp_path, "full", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1})},
                       data={"triviaqa.jsonl": "a" * 64})
    # --limit 2 on the same data: 2 of 4 records, and both right: +50 points that say nothing
    limited = _run_folder(tmp_path, "limited", {"triviaqa": _preds("triviaqa", [0, 1], {0, 1})}, limit=2,
                          data={"triviaqa.jsonl": "a" * 64})
    assert check(limited, "--baseline", full) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not scored on the same records" in err and "2 records, the baseline 4" in err
    assert check(limited, "--baseline", full, "--allow-partial") == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "2 records, the baseline 4" in out  # compared, and the summary says on what

    # A partial run (killed, not resumed) is refused even if it holds as many records as the baseline.
    partial = _run_folder(tmp_path, "partial", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1})},
                          status="partial", data={"triviaqa.jsonl": "a" * 64})
    assert check(partial, "--baseline", full) == 2
    assert "is partial" in capsys.readouterr().err
    # Other records (same count), and other data (same records, file checksum changed)
    other_ids = _run_folder(tmp_path, "other-ids", {"triviaqa": _preds("triviaqa", [0, 1, 2, 9], {0, 1})},
                            data={"triviaqa.jsonl": "a" * 64})
    assert check(other_ids, "--baseline", full) == 2
    assert "other records (1 of 4" in capsys.readouterr().err
    other_data = _run_folder(tmp_path, "other-data", {"triviaqa": _preds("triviaqa", [0, 1, 2, 3], {0, 1})},
                             data={"triviaqa.jsonl": "b" * 64})
    assert check(other_data, "--baseline", full) == 2
    assert "triviaqa.jsonl: other data" in capsys.readouterr().err
    # The same records and data: compared as before.
    same = _run_folder(tmp_path, "same", {"triviaqa": _preds("triviaqa", [3, 2, 1, 0], {0})},
                       data={"triviaqa.jsonl": "a" * 64})
    assert check(same, "--baseline", full) == 1  # 25 points down on the one task
    assert "FAIL" in capsys.readouterr().out


def test_a_limited_run_against_a_baseline_without_prediction_files_is_refused(runs, tmp_path, capsys):
    """A CSV or bare result.json has no prediction file to count: the limits in the metadata must then agree."""
    limited = _run_folder(tmp_path, "limited", {"trec": [json.loads(line) for line in
                                                         (runs / "llama2-7b" / "trec.jsonl").open()][:3]}, limit=3)
    bare = tmp_path / "bare"
    _write(bare / "result.json", (runs / "llama2-7b" / "result.json").read_text())
    assert check(limited, "--baseline", bare, "--allow-missing") == 2
    assert "limited to the first 3 records per task, the baseline to all records" in capsys.readouterr().err
    assert check(limited, "--baseline", bare, "--allow-missing", "--allow-partial") in (0, 1)
