"""The task registry against the official LongBench config files and spec (read from ../shared when present)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from longeval.cli import main
from longeval.errors import UserError
from longeval.tasks import all_tasks, get_task, resolve_tasks, suites

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "longbench"
V1_TASKS = suites()["longbench"]


def _official(name: str) -> dict:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"official LongBench config {name} not available (../shared/reference absent)")
    return json.loads(path.read_text(encoding="utf-8"))


def test_prompt_templates_are_the_official_ones_byte_for_byte():
    official = _official("dataset2prompt.json")
    assert sorted(official) == sorted(V1_TASKS)
    for name, template in official.items():
        assert get_task(name).prompt == template, name


def test_max_new_tokens_are_the_official_ones():
    official = _official("dataset2maxlen.json")
    assert {name: get_task(name).max_new_tokens for name in V1_TASKS} == official


def test_chat_wrapper_and_first_line_sets_follow_pred_and_eval():
    raw = {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"}  # pred.py: no chat template
    first_line = {"trec", "triviaqa", "samsum", "lsht"}  # eval.py: score the first line only
    assert {t for t in V1_TASKS if not get_task(t).chat} == raw
    assert {t for t in V1_TASKS if get_task(t).first_line} == first_line


def test_metric_per_task_follows_eval_py():
    expected = {
        "qa_f1": {"narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "triviaqa"},
        "qa_f1_zh": {"multifieldqa_zh"},
        "rouge": {"gov_report", "qmsum", "multi_news", "samsum"},
        "rouge_zh": {"dureader", "vcsum"},
        "classification": {"trec", "lsht"},
        "retrieval": {"passage_retrieval_en"},
        "retrieval_zh": {"passage_retrieval_zh"},
        "count": {"passage_count"},
        "code_sim": {"lcc", "repobench-p"},
    }
    for metric, names in expected.items():
        assert {t for t in V1_TASKS if get_task(t).metric == metric} == names, metric


def test_suites_have_the_documented_members():
    assert len(suites()["longbench"]) == 21
    assert len(suites()["longbench-e"]) == 13
    assert suites()["paper12"] == ["narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique",
                                   "gov_report", "qmsum", "multi_news", "trec", "triviaqa", "samsum"]
    assert all(get_task(t).language == "zh" for t in suites()["longbench-zh"])
    assert all(get_task(t).language == "en" for t in suites()["longbench-en"])
    assert len(all_tasks()) == 34


def test_longbench_e_variants_inherit_their_base_task():
    for name in suites()["longbench-e"]:
        task, base = get_task(name), get_task(name.removesuffix("_e"))
        assert task.is_e and task.base == base.name and task.file_stem == name
        assert (task.prompt, task.metric, task.max_new_tokens, task.chat) == (
            base.prompt, base.metric, base.max_new_tokens, base.chat)


def test_resolve_mixes_tasks_and_suites_without_repeats():
    names = [t.name for t in resolve_tasks("trec,paper12")]
    assert names[0] == "trec" and len(names) == 12 and len(set(names)) == 12


def test_unknown_task_is_a_user_error():
    with pytest.raises(UserError, match="unknown task or suite 'nope'"):
        resolve_tasks("trec,nope")


def test_tasks_command_lists_a_suite(capsys):
    assert main(["tasks", "--suite", "paper12"]) == 0
    out = capsys.readouterr().out
    assert "narrativeqa" in out and "lcc" not in out
    assert main(["tasks", "--suite", "bogus"]) == 2
    assert "unknown task or suite 'bogus'" in capsys.readouterr().err


@pytest.mark.slow
def test_wheel_ships_the_task_files(tmp_path):
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(root)], check=True)
    wheel = next(tmp_path.glob("longeval-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert sum(n.startswith("longeval/tasks/") and n.endswith(".yaml") for n in names) == 35  # 34 tasks + suites
    assert "longeval/published/paper_tables.yaml" in names
