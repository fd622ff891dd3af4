"""`longeval score`: official result.json on real prediction logs, LongBench-E buckets, and bad input (exit 2)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GOLDEN_PUBLIC, REAL_PRED_MODELS, assert_one_line_error, unpack_real_preds

from longeval.cli import main


def _real_pred_folders(tmp_path: Path) -> list[Path]:
    """The four real prediction sets with their official result.json, unpacked from tests/fixtures."""
    root = unpack_real_preds(tmp_path / "official")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    assert [p.name for p in folders] == sorted(REAL_PRED_MODELS)
    return folders


def _copy(folder: Path, dest: Path) -> Path:
    """A copy without the official result.json, for `longeval score` to write its own."""
    out = dest / folder.name
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("result.json"))
    return out


def _write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _good_row(**overrides) -> dict:
    row = {"pred": "Paris", "answers": ["Paris"], "all_classes": None, "length": 1200}
    row.update(overrides)
    return row


# --- real logs: result.json equal to the official one -------------------------------------------------------------

@pytest.mark.fidelity
def test_real_logs_reproduce_official_result_json(tmp_path, capsys):
    folders = _real_pred_folders(tmp_path)
    copies = [_copy(folder, tmp_path / "copies") for folder in folders]
    assert main(["score", *map(str, copies)]) == 0
    table = capsys.readouterr().out
    for folder, copy in zip(folders, copies, strict=True):
        official = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        text = (copy / "result.json").read_text(encoding="utf-8")
        ours = json.loads(text)
        assert len(official) == 21
        assert ours == official, folder.name  # task by task, all 21
        # Same bytes as eval.py's json.dump(indent=4, ensure_ascii=False), up to its directory-listing key order.
        assert text == json.dumps({task: official[task] for task in ours}, indent=4, ensure_ascii=False)
        assert folder.name in table
    assert "narrativeqa" in table and "repobench-p" in table


# --- LongBench-E buckets and the golden aggregates through the command line ----------------------------------

def _golden_folder(tmp_path: Path) -> tuple[Path, list[dict]]:
    aggregates = json.loads(GOLDEN_PUBLIC.read_text(encoding="utf-8"))["aggregates"]
    folder = tmp_path / "golden"
    for agg in aggregates:
        rows = [{"pred": p, "answers": a, "all_classes": agg["all_classes"], "length": n}
                for p, a, n in zip(agg["predictions"], agg["answers"], agg["lengths"], strict=True)]
        _write_jsonl(folder / f"{agg['task']}.jsonl", rows)
    return folder, aggregates


@pytest.mark.fidelity
def test_golden_aggregates_through_cli(tmp_path):
    folder, aggregates = _golden_folder(tmp_path)
    assert main(["score", str(folder)]) == 0
    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert result == {agg["task"]: agg["expected_score"] for agg in aggregates}


@pytest.mark.fidelity
def test_e_buckets_through_cli_with_nan(tmp_path, capsys):
    folder, aggregates = _golden_folder(tmp_path)
    assert main(["score", "--e", str(folder)]) == 0
    text = (folder / "result.json").read_text(encoding="utf-8")
    result = json.loads(text)  # json.loads accepts NaN, as eval.py writes it
    for agg in aggregates:
        for bucket, expected in agg["expected_e_buckets"].items():
            got = result[agg["task"]][bucket]
            assert math.isnan(got) if expected is None else got == expected, (agg["task"], bucket)
    assert '"8k+": NaN' in text
    assert "0-4k/4-8k/8k+" in capsys.readouterr().out


def test_e_variant_file_names_are_scored_with_the_base_metric(tmp_path):
    folder = tmp_path / "pred"
    _write_jsonl(folder / "trec_e.jsonl", [{"pred": "Food", "answers": ["Food"], "all_classes": ["Food", "Date"],
                                            "length": 5000}])
    assert main(["score", "--e", str(folder)]) == 0
    assert json.loads((folder / "result.json").read_text())["trec_e"]["4-8k"] == 100.0


def test_unknown_files_are_reported_and_skipped(tmp_path, capsys):
    folder = tmp_path / "pred"
    _write_jsonl(folder / "hotpotqa.jsonl", [_good_row()])
    _write_jsonl(folder / "notes.jsonl", ["not even json"])
    (folder / "run.log").write_text("ignored")
    assert main(["score", str(folder)]) == 0
    assert json.loads((folder / "result.json").read_text()) == {"hotpotqa": 100.0}
    assert "notes.jsonl" in capsys.readouterr().err


def test_subprocess_scores_a_folder(tmp_path):
    folder = tmp_path / "pred"
    _write_jsonl(folder / "passage_count.jsonl", [{"pred": "14 out of 30", "answers": ["14"], "all_classes": None,
                                                   "length": 100}])
    proc = subprocess.run([sys.executable, "-m", "longeval", "score", str(folder)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((folder / "result.json").read_text()) == {"passage_count": 50.0}
    assert "passage_count" in proc.stdout and "50.00" in proc.stdout


# --- bad input: one line naming file, line and field; exit 2; no result.json ------------------------------------

BAD_LINES = {
    "malformed_json": ('{"pred": "x", "answers": ["x"]', None),
    "missing_pred": ({"answers": ["x"], "length": 3}, "pred"),
    "missing_answers": ({"pred": "x", "length": 3}, "answers"),
    "pred_not_string": ({"pred": 3, "answers": ["x"]}, "pred"),
    "answers_not_list": ({"pred": "x", "answers": "x"}, "answers"),
    "answers_not_strings": ({"pred": "x", "answers": ["x", 1]}, "answers"),
    "length_string": ({"pred": "x", "answers": ["x"], "length": "3000"}, "length"),
    "length_float": ({"pred": "x", "answers": ["x"], "length": 3000.0}, "length"),
    "length_bool": ({"pred": "x", "answers": ["x"], "length": True}, "length"),
    "all_classes_not_list": ({"pred": "x", "answers": ["x"], "all_classes": "Food"}, "all_classes"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_exits_2_naming_file_line_field(tmp_path, capsys, case):
    bad, field = BAD_LINES[case]
    good_folder = tmp_path / "a_good"
    _write_jsonl(good_folder / "hotpotqa.jsonl", [_good_row()])
    folder = tmp_path / "b_bad"
    path = _write_jsonl(folder / "hotpotqa.jsonl", [_good_row(), bad])
    (folder / "result.json").write_text("old")
    assert main(["score", str(good_folder), str(folder)]) == 2
    assert_one_line_error(capsys.readouterr().err, str(path), f"{path}:2", *([f"'{field}'"] if field else []))
    assert not (good_folder / "result.json").exists()  # every folder is checked before anything is written
    assert (folder / "result.json").read_text() == "old"


def test_missing_length_is_an_error_only_for_e(tmp_path, capsys):
    folder = tmp_path / "pred"
    path = _write_jsonl(folder / "hotpotqa.jsonl", [_good_row(), {"pred": "x", "answers": ["x"]}])
    assert main(["score", "--e", str(folder)]) == 2
    assert_one_line_error(capsys.readouterr().err, f"{path}:2", "'length'")
    assert not (folder / "result.json").exists()
    assert main(["score", str(folder)]) == 0


def test_missing_folder(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["score", str(missing)]) == 2
    assert_one_line_error(capsys.readouterr().err, str(missing), "not found")


def test_folder_without_task_files(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["score", str(tmp_path / "empty")]) == 2
    assert_one_line_error(capsys.readouterr().err, "no LongBench prediction files")
    assert not (tmp_path / "empty" / "result.json").exists()


def test_retrieval_answer_without_paragraph_id(tmp_path, capsys):
    folder = tmp_path / "pred"
    path = _write_jsonl(folder / "passage_retrieval_en.jsonl", [{"pred": "Paragraph 3", "answers": ["3"]}])
    assert main(["score", str(folder)]) == 2
    assert_one_line_error(capsys.readouterr().err, f"{path}:1", "'answers'")


def test_classification_without_class_list(tmp_path, capsys):
    folder = tmp_path / "pred"
    path = _write_jsonl(folder / "trec.jsonl", [{"pred": "Food", "answers": ["Food"], "all_classes": None}])
    assert main(["score", str(folder)]) == 2
    assert_one_line_error(capsys.readouterr().err, f"{path}:1", "'all_classes'")


def test_subprocess_bad_input_exit_2_one_line(tmp_path):
    folder = tmp_path / "pred"
    path = _write_jsonl(folder / "qasper.jsonl", [_good_row(length="long")])
    proc = subprocess.run([sys.executable, "-m", "longeval", "score", str(folder)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, f"{path}:1", "'length'")
    assert not (folder / "result.json").exists()
