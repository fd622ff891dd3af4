"""LongBench v2 answers and results against the official pred.py/result.py (goldens in tests/fixtures/longbench_v2,
computed by running the official code: see PROVENANCE.md there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from longeval.benchmarks.longbench_v2.answers import extract_answer
from longeval.benchmarks.longbench_v2.predictions import prediction_line, read_prediction_file
from longeval.benchmarks.longbench_v2.results import BUCKETS, accuracy, empty_note, task_result
from longeval.cli import main
from longeval.errors import UserError
from tests.helpers import FIXTURES

V2 = FIXTURES / "longbench_v2"
GOLDEN = json.loads((V2 / "golden_scoring.json").read_text(encoding="utf-8"))
TASKS = Path(__file__).resolve().parents[1] / "tasks" / "longbench_v2"


@pytest.mark.fidelity
@pytest.mark.parametrize(("response", "expected"), GOLDEN["extract_answer"], ids=range(len(GOLDEN["extract_answer"])))
def test_extract_answer_equals_the_official_function(response, expected):
    assert extract_answer(response) == expected


def test_extract_answer_branches():
    """Each branch on its own: parenthesised wins over an earlier bare match; '*' is removed before matching."""
    assert extract_answer("The correct answer is B and The correct answer is (C)") == "C"
    assert extract_answer("The correct answer is B") == "B"
    assert extract_answer("The correct answer is **(D)**") == "D"
    assert extract_answer("The correct answer is (E)") is None
    assert extract_answer("") is None


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def _row(result):
    return [str(result[b]) for b in BUCKETS]


@pytest.mark.fidelity
@pytest.mark.parametrize("name", sorted(GOLDEN["rows"]))
@pytest.mark.parametrize("compensated", [False, True])
@pytest.mark.parametrize("fields", ["as written", "without pred and judge", "json array"])
def test_results_equal_result_py(tmp_path, name, compensated, fields):
    """result.py's six numbers, plain and compensated, whether the lines carry pred/judge or not, JSONL or array."""
    lines = [json.loads(line) for line in GOLDEN["files"][name].splitlines()]
    if fields == "without pred and judge":
        lines = [{k: v for k, v in line.items() if k not in ("pred", "judge")} for line in lines]
    if fields == "json array":
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(lines, indent=2), encoding="utf-8")
    else:
        path = _write(tmp_path, name, "".join(json.dumps(line) + "\n" for line in lines))
    read = read_prediction_file(path)
    assert read.disagreements == 0
    result = task_result(read.lines, compensated=compensated)
    assert _row(result) == GOLDEN["rows"][name]["compensated" if compensated else "plain"]
    assert result["counts"]["overall"] == len(lines)
    assert result["counts"]["easy"] + result["counts"]["hard"] == len(lines)
    assert result["counts"]["short"] + result["counts"]["medium"] + result["counts"]["long"] == len(lines)


def test_stored_judge_that_disagrees_with_the_response_is_counted_and_recomputed(tmp_path):
    line = json.loads(GOLDEN["files"]["tiny-7"].splitlines()[0])
    wrong = dict(line, judge=not line["judge"])
    read = read_prediction_file(_write(tmp_path, "x", json.dumps(wrong) + "\n"))
    assert read.disagreements == 1
    assert read.lines[0]["judge"] == line["judge"]


def _item(**changes):
    base = {"_id": "a", "domain": "d", "sub_domain": "s", "difficulty": "easy", "length": "short", "question": "q",
            "choice_A": "1", "choice_B": "2", "choice_C": "3", "choice_D": "4", "answer": "B", "context": "c" * 3000}
    return base | changes


def test_empty_output_is_kept_scored_wrong_and_the_official_skip_numbers_are_given():
    """pred.py writes no line for an empty output; longeval keeps it (marked, wrong) and reports both numbers."""
    lines = [prediction_line(_item(_id="a"), "ctx", "The correct answer is (B)"),
             prediction_line(_item(_id="b", difficulty="hard"), "ctx", "", empty=True),
             prediction_line(_item(_id="c", length="long"), "ctx", "no idea"),
             prediction_line(_item(_id="d", length="long", difficulty="hard"), "ctx", "", empty=True)]
    assert lines[1]["empty_output"] is True and lines[1]["pred"] is None and lines[1]["judge"] is False
    assert "empty_output" not in lines[0]
    result = task_result(lines)
    assert (result["overall"], result["counts"]["overall"], result["empty_outputs"]) == (25.0, 4, 2)
    assert result["hard"] == 0.0 and result["unparsed"] == 1
    # the official convention: only the two written lines count
    assert result["official_skip"] == {"overall": 50.0, "easy": 50.0, "hard": None, "short": 100.0,
                                       "medium": None, "long": 0.0, "records": 2}
    compensated = task_result(lines, compensated=True)
    assert compensated["overall"] == round(100 * 1.25 / 4, 1)  # the empty ones stay 0, the unparsed one gets 0.25
    assert compensated["official_skip"]["overall"] == round(100 * 1.25 / 2, 1)
    note = empty_note("longbench_v2", result)
    assert note is not None and "2 empty" in note and "50.0" in note and "25.0" in note
    assert empty_note("longbench_v2", task_result(lines[:1])) is None


def test_an_empty_bucket_is_none_not_a_division_by_zero():
    result = accuracy([prediction_line(_item(), "ctx", "The correct answer is B")])
    assert result["easy"] == 100.0 and result["hard"] is None and result["medium"] is None


def test_prediction_line_has_pred_py_fields_in_order():
    line = prediction_line(_item(), "x" * 1500, " The correct answer is (B) ".strip(), reasoning="because")
    assert list(line) == ["_id", "domain", "sub_domain", "difficulty", "length", "question", "choice_A",
                          "choice_B", "choice_C", "choice_D", "answer", "context", "response_cot", "response", "pred",
                          "judge"]
    assert line["context"] == "x" * 1000 and (line["pred"], line["judge"]) == ("B", True)


@pytest.mark.parametrize(("change", "field"), [
    ({"answer": "E"}, "answer"), ({"difficulty": "medium"}, "difficulty"), ({"length": 3}, "length"),
    ({"response": None}, "response"), ({"_id": 7}, "_id"), ({"_id": ""}, "_id")])
def test_bad_prediction_lines_are_located(tmp_path, change, field):
    good = json.loads(GOLDEN["files"]["tiny-7"].splitlines()[0])
    bad = dict(good, **change)
    path = _write(tmp_path, "bad", json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(UserError) as err:
        read_prediction_file(path)
    assert f"{path}:2" in str(err.value) and f"'{field}'" in str(err.value)


def test_missing_response_duplicate_id_and_empty_file(tmp_path):
    good = json.loads(GOLDEN["files"]["tiny-7"].splitlines()[0])
    del good["context"]
    no_response = {k: v for k, v in good.items() if k != "response"}
    with pytest.raises(UserError, match="'response'"):
        read_prediction_file(_write(tmp_path, "a", json.dumps(no_response) + "\n"))
    with pytest.raises(UserError, match="duplicate _id"):
        read_prediction_file(_write(tmp_path, "b", (json.dumps(good) + "\n") * 2))
    with pytest.raises(UserError, match="no prediction lines"):
        read_prediction_file(_write(tmp_path, "c", "\n"))


@pytest.mark.fidelity
def test_task_templates_are_the_official_ones_byte_for_byte():
    import hashlib

    official = GOLDEN["templates_sha256"]
    used = {"longbench_v2.yaml": {"prompt": "0shot.txt"},
            "longbench_v2_cot.yaml": {"prompt": "0shot_cot.txt", "answer_prompt": "0shot_cot_ans.txt"},
            "longbench_v2_nocontext.yaml": {"prompt": "0shot_no_context.txt"},
            "longbench_v2_rag.yaml": {"prompt": "0shot_rag.txt"}}
    for file, keys in used.items():
        doc = yaml.safe_load((TASKS / file).read_text(encoding="utf-8"))
        for key, template in keys.items():
            assert hashlib.sha256(doc[key].encode("utf-8")).hexdigest() == official[template], (file, key)


@pytest.mark.fidelity
def test_score_reads_official_pred_py_files(tmp_path, capsys):
    """Official output files are named after the model (<model>.jsonl, <model>_cot.jsonl): recognised by content."""
    for index, (name, text) in enumerate(sorted(GOLDEN["files"].items())):
        stem = f"Model-{name}" + ("_cot" if index % 2 else "")
        (tmp_path / f"{stem}.jsonl").write_text(text, encoding="utf-8")
    for compensated in (False, True):
        assert main(["score", str(tmp_path)] + ["--compensated"] * compensated) == 0
        result = json.loads((tmp_path / "result.json").read_text())
        for index, (name, rows) in enumerate(sorted(GOLDEN["rows"].items())):
            stem = f"Model-{name}" + ("_cot" if index % 2 else "")
            got = [str(result[stem][b]) for b in BUCKETS]
            assert got == rows["compensated" if compensated else "plain"], (stem, compensated)
    out = capsys.readouterr().out
    assert "(cells: overall/easy/hard/short/medium/long" in out


def test_the_v2_tasks_and_their_keys():
    from longeval.tasks import get_task, suites

    cot, rag = get_task("longbench_v2_cot"), get_task("longbench_v2_rag")
    assert (cot.mode, cot.max_new_tokens, cot.answer_tokens) == ("cot", 1024, 128)  # pred.py's two budgets
    assert get_task("longbench_v2").max_new_tokens == 128 and rag.rag_top_n >= 1
    assert suites()["longbench-v2"] == ["longbench_v2", "longbench_v2_cot"]


@pytest.mark.parametrize(("change", "field"), [({"mode": "fewshot"}, "mode"), ({"mode": "cot"}, "answer_prompt"),
                                               ({"mode": "rag"}, "rag_top_n"), ({"answer_tokens": 0}, "answer_tokens")])
def test_bad_v2_task_files_are_located(tmp_path, monkeypatch, change, field):
    import longeval.tasks as tasks_module

    monkeypatch.delenv(tasks_module.TASKS_PATH_ENV, raising=False)
    monkeypatch.setattr(tasks_module, "_user_dirs", [])
    doc = {"name": "my_v2", "version": 1, "benchmark": "longbench_v2", "mode": "0shot", "max_new_tokens": 128,
           "prompt": "$DOC$ $Q$"} | change
    (tmp_path / "my_v2.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    tasks_module.add_tasks_path(tmp_path)
    try:
        with pytest.raises(UserError) as err:
            tasks_module.all_tasks()
        assert "my_v2.yaml" in str(err.value) and f"'{field}'" in str(err.value)
    finally:
        tasks_module._user_dirs.clear()
        tasks_module.clear_cache()


def test_unit_groups_headline_and_official_file_names(tmp_path):
    from longeval.benchmarks import get_benchmark
    from longeval.tasks import get_task

    unit = get_benchmark("longbench_v2")
    lines = [prediction_line(_item(_id="a"), "c", "The correct answer is (B)"),
             prediction_line(_item(_id="b", difficulty="hard", length="long"), "c", "x")]
    groups = unit.record_groups(get_task("longbench_v2"), lines)
    assert groups == {"overall": [0, 1], "easy": [0], "hard": [1], "short": [0], "medium": [], "long": [1]}
    entry = unit.task_result(get_task("longbench_v2"), lines)
    assert unit.headline(get_task("longbench_v2"), entry) == 50.0 and entry["details"]["counts"]["overall"] == 2
    text = json.dumps(lines[0]) + "\n"
    for stem, task in (("GLM-4-9B-Chat", "longbench_v2"), ("GLM-4-9B-Chat_cot", "longbench_v2_cot"),
                       ("GLM-4-9B-Chat_no_context", "longbench_v2_nocontext"), ("m_rag_8", "longbench_v2_rag")):
        found = unit.task_for_file(_write(tmp_path, stem, text))
        assert found is not None and found.name == task
    assert unit.task_for_file(_write(tmp_path, "trec", json.dumps({"pred": "x", "answers": ["y"]}) + "\n")) is None
