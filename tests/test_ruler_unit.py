"""The `ruler` unit in the core: its 13 tasks and two suites in the registry, its flags on run/prompts/report,
prediction files scored with RULER's metrics (the golden cases of tests/fixtures/ruler), located errors for bad
lines, and the report's RULER section (average per length, effective length at the threshold, plot)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from longeval.benchmarks import get_benchmark
from longeval.benchmarks.ruler.report import effective_length, ruler_sections
from longeval.errors import UserError
from longeval.tasks import all_tasks, get_task, suites
from tests.helpers import FIXTURES

CASES = json.loads((FIXTURES / "ruler" / "metric_cases.json").read_text())
UNIT = get_benchmark("ruler")


def test_the_13_tasks_and_the_two_suites_are_registered():
    ruler = [name for name, task in all_tasks().items() if task.benchmark == "ruler"]
    assert len(ruler) == 13 and suites()["ruler"] == ruler
    assert suites()["ruler-offline"] == [t for t in ruler if t not in ("ruler_qa_1", "ruler_qa_2")]
    assert not UNIT.needs_data(get_task("ruler_vt"))
    assert UNIT.is_binary(get_task("ruler_niah_single_1")) and UNIT.is_binary(get_task("ruler_qa_1"))
    assert not UNIT.is_binary(get_task("ruler_niah_multivalue")) and not UNIT.is_binary(get_task("ruler_cwe"))
    assert UNIT.prompt_budget(get_task("ruler_vt"), None, "none", 8192, 4096) == (4096, 0)
    assert UNIT.prompt_budget(get_task("ruler_vt"), None, "none", 8192, None) == (8192, 0)


@pytest.mark.fidelity
@pytest.mark.parametrize("case", CASES, ids=[f"{c['metric']}-{i}" for i, c in enumerate(CASES)])
def test_prediction_files_score_as_rulers_evaluate(case, tmp_path):
    task = get_task("ruler_qa_1" if case["metric"] == "string_match_part" else "ruler_vt")
    path = tmp_path / f"{task.name}.jsonl"
    path.write_text("".join(json.dumps({"_id": f"r{i}", "index": i, "pred": p, "outputs": r}) + "\n"
                            for i, (p, r) in enumerate(zip(case["preds"], case["refs"], strict=True))))
    lines = UNIT.read_predictions(task, path)
    assert UNIT.task_result(task, lines) == case["score"]
    assert UNIT.record_scores(task, lines) == pytest.approx(case["record_scores"], abs=5e-5)
    assert UNIT.task_for_file(path) == task


@pytest.mark.parametrize(("line", "field_name"), [({"outputs": ["a"]}, "pred"), ({"pred": "x"}, "outputs"),
                                                  ({"pred": "x", "outputs": []}, "outputs"),
                                                  ({"pred": "x", "outputs": [1]}, "outputs")])
def test_bad_prediction_lines_are_located(line, field_name, tmp_path):
    path = tmp_path / "ruler_vt.jsonl"
    path.write_text(json.dumps({"pred": "ok", "outputs": ["a"]}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(UserError) as info:
        UNIT.read_predictions(get_task("ruler_vt"), path)
    assert (info.value.line, info.value.field) == (2, field_name)


def test_the_family_flags_are_on_run_prompts_and_report(capsys):
    from longeval.cli import main

    for command, flags in (("run", ("--ruler-essays", "--ruler-qa", "--ruler-seed", "--ruler-samples")),
                           ("prompts", ("--ruler-essays", "--ruler-qa")), ("report", ("--threshold",))):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert all(flag in out for flag in flags), command


@dataclass
class View:
    name: str
    max_length: int | None
    scores: dict[str, float]
    model: str | None = "m"
    method: str | None = "none"
    path: str | None = None
    pred_dir: str | None = None
    buckets: dict[str, dict[str, float]] = field(default_factory=dict)


def test_effective_length_is_the_last_length_above_the_threshold_without_a_dip():
    assert effective_length({4096: 95.5, 8192: 93.8, 16384: 91.6, 32768: 87.4, 65536: 84.7}, 85.6) == 32768
    assert effective_length({4096: 90.0, 8192: 80.0, 16384: 90.0}, 85.6) == 4096
    assert effective_length({4096: 85.6}, 85.6) is None  # "above": equal is not enough
    assert effective_length({4096: 70.0}, 50) == 4096


def test_report_section_gives_averages_per_length_effective_length_and_a_plot():
    tasks = {name: task for name, task in all_tasks().items() if task.benchmark == "ruler"}
    runs = [View("a", 4096, {"ruler_vt": 100.0, "ruler_cwe": 80.0, "trec": 10.0}),
            View("b", 8192, {"ruler_vt": 90.0, "ruler_cwe": 70.0}),
            View("c", 4096, {"ruler_vt": 50.0}, method="yarn:factor=2"),
            View("d", None, {"ruler_vt": 1.0})]
    sections = ruler_sections(runs, tasks, 85.6)
    assert len(sections) == 1 and sections[0].png.startswith(b"\x89PNG")
    text = sections[0].text
    assert "threshold 85.6" in text
    assert "| m · none | 90.00 (2) | 80.00 (2) | 4k |" in text  # trec is not a RULER task
    assert "| m · yarn:factor=2 | 50.00 (1) | — | below threshold |" in text
    assert "| m · none | 8k | 90.00 | 70.00 |" in text.replace("| vt | cwe |", "")
    assert "| m · none | 90.00 (2) | 80.00 (2) | 8k |" in ruler_sections(runs, tasks, 75)[0].text
    assert ruler_sections([View("x", 4096, {"trec": 1.0})], tasks, 85.6) == []
    assert UNIT.report_sections(runs, {"threshold": 75.0})[0].text == ruler_sections(runs, tasks, 75)[0].text
