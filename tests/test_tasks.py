"""The task registry against the official LongBench config files (tests/fixtures/longbench) and spec; task files as
validated data; user task folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import LONGBENCH, assert_exit_2_one_line

from longeval import tasks as tasks_module
from longeval.benchmarks import all_benchmarks
from longeval.cli import main
from longeval.errors import UserError
from longeval.tasks import add_tasks_path, all_tasks, builtin_tasks_dir, get_task, resolve_tasks, suites

V1_TASKS = suites()["longbench"]


def _official(name: str) -> dict:
    return json.loads((LONGBENCH / name).read_text(encoding="utf-8"))


@pytest.mark.fidelity
def test_prompt_templates_are_the_official_ones_byte_for_byte():
    official = _official("dataset2prompt.json")
    assert sorted(official) == sorted(V1_TASKS)
    for name, template in official.items():
        assert get_task(name).prompt == template, name


@pytest.mark.fidelity
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
    v1 = [t for t in all_tasks().values() if t.benchmark in ("longbench", "passkey")]
    assert len([t for t in v1 if t.source == "longbench"]) == 34
    assert [t.name for t in v1 if t.source == "generated"] == ["passkey", "passkey_sweep"]
    assert suites()["longbench-v2"] == ["longbench_v2", "longbench_v2_cot"]
    assert len(suites()["ruler"]) == 13 and len(suites()["ruler-offline"]) == 11


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


# --- tasks as validated data -----------------------------------------------------------------------------------

GOOD = {"name": "mytask", "version": 3, "language": "en", "category": "single-doc QA", "metric": "qa_f1",
        "max_new_tokens": 16, "chat": True, "first_line": False, "prompt": "Read {context}\nQ: {input}\nA:"}


@pytest.fixture
def user_tasks(tmp_path, monkeypatch):
    """A user task folder, registered for this test only (the registry is reset before and after)."""
    monkeypatch.delenv(tasks_module.TASKS_PATH_ENV, raising=False)
    monkeypatch.setattr(tasks_module, "_user_dirs", [])
    tasks_module.clear_cache()
    folder = tmp_path / "mytasks"
    folder.mkdir()
    yield folder
    tasks_module.clear_cache()


def write_task(folder: Path, doc: dict, name: str | None = None) -> Path:
    path = folder / f"{name or doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_every_yaml_file_is_a_task_and_has_a_version():
    files = {p.stem for p in builtin_tasks_dir().rglob("*.yaml") if p.parent.name in all_benchmarks()} - {"suites"}
    assert set(all_tasks()) == files
    assert all(isinstance(t.version, int) and t.version >= 1 for t in all_tasks().values())
    assert builtin_tasks_dir() == Path(__file__).resolve().parents[1] / "tasks"


def test_samsum_generation_rules_are_task_fields():
    # pred.py: samsum alone stops at "\n" and has min_length = context_length + 1; its LongBench-E variant inherits.
    for name in ("samsum", "samsum_e"):
        assert (get_task(name).stop, get_task(name).min_new_tokens) == (("\n",), 1)
    others = [t for t in all_tasks().values() if getattr(t, "base", t.name) != "samsum"]
    assert all(t.stop == () and t.min_new_tokens == 0 for t in others)


def test_a_user_task_not_in_any_suite_is_discovered(user_tasks, capsys):
    write_task(user_tasks, {**GOOD, "stop": ["\n\n"], "min_new_tokens": 2})
    add_tasks_path(user_tasks)
    task = get_task("mytask")
    assert (task.version, task.stop, task.min_new_tokens, task.source) == (3, ("\n\n",), 2, "longbench")
    assert [t.name for t in resolve_tasks("trec,mytask")] == ["trec", "mytask"]
    # LongBench, passkey, v2, RULER, mytask
    assert list(all_tasks())[-1] == "mytask" and len(all_tasks()) == 34 + 2 + 4 + 13 + 1
    tasks_module._user_dirs.clear()
    tasks_module.clear_cache()
    assert main(["tasks", "--tasks-path", str(user_tasks)]) == 0
    assert "mytask" in capsys.readouterr().out


def test_user_suites_and_the_environment_variable(user_tasks, monkeypatch):
    write_task(user_tasks, GOOD)
    (user_tasks / "suites.yaml").write_text("mine: [mytask, trec]\n", encoding="utf-8")
    monkeypatch.setenv(tasks_module.TASKS_PATH_ENV, str(user_tasks))
    tasks_module.clear_cache()
    assert [t.name for t in resolve_tasks("mine")] == ["mytask", "trec"]


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"promt": "x"}, "promt", "unknown key"),
    ({"metric": "bleu"}, "metric", "unknown metric 'bleu'"),
    ({"version": None}, "version", "missing field"),
    ({"version": "1"}, "version", "must be a positive integer"),
    ({"chat": "yes"}, "chat", "must be true or false"),
    ({"max_new_tokens": 0}, "max_new_tokens", "must be a positive integer"),
    ({"language": "fr"}, "language", "unknown language 'fr'"),
    ({"prompt": "{context} {question}"}, "prompt", "unknown record field(s) question"),
    ({"stop": ["\n", 3]}, "stop", "non-empty strings"),
    ({"source": "web"}, "source", "unknown source 'web'"),
    ({"source": "generated"}, "generator", "names its generator"),
    ({"generator": "passkey"}, "generator", "only a task with source: generated"),
    ({"name": "other"}, "name", "must match the file name"),
    ({"variant_of": "nope"}, "variant_of", "'nope' is not a base task"),
])
def test_bad_task_files_are_one_line_errors_with_file_and_field(user_tasks, capsys, change, field, message):
    doc = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = write_task(user_tasks, doc, name="mytask")
    assert_exit_2_one_line(capsys, ["tasks", "--tasks-path", str(user_tasks)], str(path), f"field '{field}'", message)


def test_a_task_defined_twice_or_a_bad_suite_is_refused(user_tasks):
    write_task(user_tasks, {**GOOD, "name": "trec"})
    add_tasks_path(user_tasks)
    with pytest.raises(UserError, match=r"trec.yaml field 'name': task 'trec' is already defined in .*tasks"):
        all_tasks()
    (user_tasks / "trec.yaml").unlink()
    (user_tasks / "suites.yaml").write_text("paper12: [trec]\n", encoding="utf-8")
    tasks_module.clear_cache()
    with pytest.raises(UserError, match="suite 'paper12' is already defined"):
        all_tasks()
    (user_tasks / "suites.yaml").write_text("mine: [trec, ghost]\n", encoding="utf-8")
    tasks_module.clear_cache()
    with pytest.raises(UserError, match=r"suites.yaml field 'mine': lists unknown task 'ghost'"):
        all_tasks()


def test_tasks_path_must_be_a_folder(tmp_path, capsys, user_tasks):
    assert main(["tasks", "--tasks-path", str(tmp_path / "missing")]) == 2
    assert "not a folder of task files" in capsys.readouterr().err


def test_a_generated_task_takes_its_records_from_its_generator(user_tasks, monkeypatch, tmp_path):
    from longeval.benchmarks.longbench import data

    def counting(task, limit, n):
        return [{"context": "x " * i, "input": "how many?", "answers": [str(i)], "length": i, "all_classes": None,
                 "_id": f"{task.name}-{i}"} for i in range(n)]

    write_task(user_tasks, {**GOOD, "name": "synth", "source": "generated", "generator": "counting",
                            "generator_args": {"n": 5}})
    add_tasks_path(user_tasks)
    monkeypatch.setitem(data.GENERATORS, "counting", counting)
    source = data.open_source(str(tmp_path))
    records = source.load(get_task("synth"), limit=3)
    assert [r["_id"] for r in records] == ["synth-0", "synth-1", "synth-2"]
    assert list(source.file_sha256) == ["synth.generated"]
    monkeypatch.delitem(data.GENERATORS, "counting")
    with pytest.raises(UserError, match=r"synth.yaml field 'generator': unknown generator 'counting'"):
        source.load(get_task("synth"))


@pytest.mark.parametrize("data_file", ["../../etc/passwd", "/etc/passwd", "sub/file", "..", ".hidden"])
def test_a_data_file_that_leaves_the_data_folder_is_refused(user_tasks, capsys, data_file):
    path = write_task(user_tasks, {**GOOD, "data_file": data_file})
    assert_exit_2_one_line(capsys, ["tasks", "--tasks-path", str(user_tasks)], str(path), "field 'data_file'",
                           "plain file name")


def test_a_suite_may_not_take_the_name_of_a_task(user_tasks, capsys):
    """`--tasks trec` expands suites first: a user suite named trec would change what it runs, silently."""
    (user_tasks / "suites.yaml").write_text("trec: [samsum]\n", encoding="utf-8")
    assert_exit_2_one_line(capsys, ["tasks", "--tasks-path", str(user_tasks)], "suites.yaml", "field 'trec'",
                           "name of the task")
    (user_tasks / "suites.yaml").write_text("mytask: [trec]\n", encoding="utf-8")
    write_task(user_tasks, GOOD)
    assert_exit_2_one_line(capsys, ["tasks", "--tasks-path", str(user_tasks)], "field 'mytask'", "name of the task")
