"""Benchmark families as units (longeval/benchmarks): the registry finds the built-in families, every task belongs
to one, and the unit's per-record scores and result.json entries equal the official numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import unpack_real_preds

from longeval.benchmarks import all_benchmarks, benchmark_of, get_benchmark
from longeval.errors import UserError
from longeval.tasks import all_tasks, get_task

# Tasks whose metrics are quick (the whole set is scored against result.json by test_results).
QUICK = ("trec", "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lsht")


def test_the_built_in_families_are_registered_and_every_task_has_one():
    assert {"longbench", "passkey"} <= set(all_benchmarks())
    assert {t.benchmark for t in all_tasks().values()} <= set(all_benchmarks())
    assert get_task("trec").benchmark == "longbench" and get_task("trec_e").benchmark == "longbench"
    assert get_task("passkey_sweep").benchmark == "passkey"
    with pytest.raises(UserError, match="unknown benchmark 'nope'"):
        get_benchmark("nope")


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    return unpack_real_preds(tmp_path_factory.mktemp("preds"), ("llama2-7b",)) / "llama2-7b"


def test_unit_scores_equal_the_official_result_json(official):
    expected = json.loads((official / "result.json").read_text())
    for name in QUICK:
        path = official / f"{name}.jsonl"
        unit = benchmark_of(get_task(name))
        task = unit.task_for_file(path)
        assert task is not None and task.name == name
        lines = unit.read_predictions(task, path)
        scores = unit.record_scores(task, lines)
        assert len(scores) == len(lines) and all(0.0 <= s <= 1.0 for s in scores)
        assert unit.task_result(task, lines) == expected[name], name
        assert unit.headline(task, expected[name]) == expected[name]
        assert not unit.is_binary(task)
        assert unit.pred_file_stem(task) == name


def test_longbench_e_variant_writes_the_base_file_and_scores_by_length_bucket():
    task = get_task("trec_e")
    unit = benchmark_of(task)
    assert unit.pred_file_stem(task) == "trec"
    classes = ["A", "B"]
    # lengths 100 and 5000 and 9000: one record per bucket; gold A, B, A; predictions name A, A, A.
    lines = [{"pred": "A", "answers": [gold], "all_classes": classes, "length": length, "_id": str(i)}
             for i, (gold, length) in enumerate([("A", 100), ("B", 5000), ("A", 9000)])]
    assert unit.record_scores(task, lines) == [1.0, 0.0, 1.0]
    assert unit.task_result(task, lines) == {"0-4k": 100.0, "4-8k": 0.0, "8k+": 100.0}
    empty = unit.task_result(task, lines[:1])
    assert empty["0-4k"] == 100.0 and math.isnan(empty["8k+"])
    assert unit.headline(task, empty) is None  # reported per bucket


def test_passkey_scores_are_binary_exact_matches(tmp_path):
    task = get_task("passkey")
    unit = benchmark_of(task)
    assert unit.is_binary(task) and not unit.needs_data(task)
    lines = [{"pred": " 12345.", "answers": ["12345"], "all_classes": None, "length": 100, "_id": "passkey-100-d10-r0"},
             {"pred": " 1234", "answers": ["12345"], "all_classes": None, "length": 100, "_id": "passkey-100-d10-r1"}]
    path = tmp_path / "passkey.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert unit.task_for_file(path) == task
    read = unit.read_predictions(task, path)
    assert unit.record_scores(task, read) == [1.0, 0.0]
    assert unit.record_ids(task, read) == ["passkey-100-d10-r0", "passkey-100-d10-r1"]
    assert unit.task_result(task, read) == 50.0
    assert benchmark_of(get_task("trec")).task_for_file(path) is None  # a family knows only its own files


def test_a_bad_prediction_line_is_a_located_error(tmp_path):
    task = get_task("trec")
    path = tmp_path / "trec.jsonl"
    path.write_text('{"pred": "x", "answers": "A"}\n')
    with pytest.raises(UserError, match=r"trec.jsonl:1 field 'answers'"):
        benchmark_of(task).read_predictions(task, path)


def test_an_unknown_family_in_a_task_file_is_a_located_error(tmp_path, monkeypatch):
    from longeval import tasks as tasks_module

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "x.yaml").write_text("benchmark: nope\nname: x\nversion: 1\nmax_new_tokens: 4\n")
    monkeypatch.setattr(tasks_module, "_user_dirs", [folder])
    tasks_module.clear_cache()
    try:
        with pytest.raises(UserError, match=r"x.yaml field 'benchmark': unknown benchmark 'nope'"):
            all_tasks()
    finally:
        tasks_module.clear_cache()


def test_family_options_are_parsed_checked_and_sorted_by_family():
    from longeval.benchmarks import parse_options
    from longeval.benchmarks.base import KeySpec
    from longeval.runs.inputs import check_options

    assert parse_options(["k=8", "flag=true", "path=/x/y", "empty="]) == {
        "k": 8, "flag": True, "path": "/x/y", "empty": ""}
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_options(["nokey"])
    tasks = [get_task("trec"), get_task("passkey")]
    assert check_options({}, tasks) == {"longbench": {}, "passkey": {}}
    with pytest.raises(UserError, match="unknown option 'seed' \\(known: none for these tasks\\)"):
        check_options({"seed": 1}, tasks)
    unit = benchmark_of(get_task("passkey"))
    old = type(unit).options
    type(unit).options = {"seed": KeySpec((int,), "an integer")}
    try:
        assert check_options({"seed": 3}, tasks) == {"longbench": {}, "passkey": {"seed": 3}}
        with pytest.raises(UserError, match="seed must be an integer"):
            check_options({"seed": "x"}, tasks)
    finally:
        type(unit).options = old
