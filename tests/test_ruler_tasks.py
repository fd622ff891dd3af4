"""The 13 RULER task files carry RULER's definitions (template, answer prefix, tokens to generate, generator
arguments, metric) as tests/fixtures/ruler/ruler_tasks.json extracted them from RULER's own files; a bad task file
is a located one-line error."""

from __future__ import annotations

import json

import pytest

from longeval.benchmarks.ruler.definitions import builtin_tasks, load_task_file, parse_task
from longeval.errors import UserError
from tests.helpers import FIXTURES

RULER_TASKS = json.loads((FIXTURES / "ruler" / "ruler_tasks.json").read_text())
ALL_13 = ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
          "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2"]


@pytest.mark.fidelity
def test_the_13_task_files_carry_rulers_definitions():
    tasks = {task.ruler_name: task for task in builtin_tasks().values()}
    assert sorted(tasks) == sorted(ALL_13) == sorted(RULER_TASKS)
    for name, expected in RULER_TASKS.items():
        task = tasks[name]
        assert task.name == f"ruler_{name}"
        assert (task.generator, task.template, task.answer_prefix, task.tokens_to_generate, task.metric) == (
            expected["generator"], expected["template"], expected["answer_prefix"], expected["tokens_to_generate"],
            expected["metric"]), name
        for key, value in expected["args"].items():
            assert task.args[key] == value, (name, key)


def test_offline_tasks_need_nothing_but_the_essays():
    tasks = builtin_tasks()
    essays = sorted(t.ruler_name for t in tasks.values() if t.needs_essays)
    assert essays == ["niah_multikey_1", "niah_multiquery", "niah_multivalue", "niah_single_2", "niah_single_3"]
    assert sorted(t.qa_dataset for t in tasks.values() if t.qa_dataset) == ["hotpotqa", "squad"]
    assert tasks["ruler_qa_1"].digest() != tasks["ruler_qa_2"].digest()


GOOD = {"name": "ruler_x", "generator": "niah", "metric": "string_match_all", "max_new_tokens": 128,
        "template": "{context} {query}", "answer_prefix": " Answer:", "args": {"type_haystack": "noise"}}


@pytest.mark.parametrize(("change", "field"), [
    ({"generator": "nope"}, "generator"),
    ({"metric": "rouge"}, "metric"),
    ({"max_new_tokens": "ten"}, "max_new_tokens"),
    ({"template": "no placeholder"}, "template"),
    ({"answer_prefix": " "}, "answer_prefix"),
    ({"args": {"type_haystack": "sand"}}, "args.type_haystack"),
    ({"args": {"num_needle_k": 0}}, "args.num_needle_k"),
    ({"args": {"colour": 1}}, "args.colour"),
    ({"args": [1]}, "args"),
])
def test_bad_definitions_are_located_errors(change, field):
    with pytest.raises(UserError) as info:
        parse_task({**GOOD, **change}, "tasks/ruler/ruler_x.yaml")
    assert info.value.field == field and info.value.path == "tasks/ruler/ruler_x.yaml"
    assert "\n" not in str(info.value)


def test_defaults_fill_rulers_generator_arguments(tmp_path):
    task = parse_task(GOOD, "t.yaml")
    assert task.args == {"type_haystack": "noise", "type_needle_k": "words", "type_needle_v": "numbers",
                         "num_needle_k": 1, "num_needle_v": 1, "num_needle_q": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n")
    with pytest.raises(UserError, match="mapping"):
        load_task_file(bad)
