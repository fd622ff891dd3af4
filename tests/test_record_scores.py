"""record_scores.json: the per-record scores a run keeps when it is scored, the numbers result.json averages (to the
last digit), read back by the paired statistics while the pred file they describe is unchanged.

The echo backend stands in for a model (the one fake: these tests are about the run folder, not an engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_runner import make_data

from longeval.benchmarks.longbench.metrics import qa_f1_score
from longeval.cli import main
from longeval.report.records import read_run
from longeval.runs.folder import RECORD_SCORES as SCORES_FILE

TASKS = ("hotpotqa", "2wikimqa")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, echo_model: Path) -> Path:
    root = tmp_path_factory.mktemp("kept")
    data = root / "lb"
    for task in TASKS:
        make_data(data, task=task, n=6)
    assert main(["run", "--model", str(echo_model), "--tasks", ",".join(TASKS), "--data", str(data), "--out",
                 str(root / "runs"), "--backend", "echo", "--max-length", "200", "--no-progress",
                 "--run-name", "r"]) == 0
    return root / "runs" / "r"


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_kept_scores_are_the_official_metric_and_average_to_result_json(run: Path) -> None:
    kept = json.loads((run / SCORES_FILE).read_text(encoding="utf-8"))["files"]
    result = json.loads((run / "pred" / "result.json").read_text(encoding="utf-8"))
    assert sorted(kept) == sorted(TASKS)
    for task in TASKS:
        lines = lines_of(run / "pred" / f"{task}.jsonl")
        # The official eval.py: the best qa_f1 over the answers, per record.
        official = [max(qa_f1_score(line["pred"], answer) for answer in line["answers"]) for line in lines]
        assert kept[task]["ids"] == [line["_id"] for line in lines]
        assert kept[task]["scores"] == pytest.approx(official, abs=0)
        assert round(100 * sum(kept[task]["scores"]) / len(lines), 2) == result[task]


def test_the_statistics_read_the_kept_scores_while_the_pred_file_is_unchanged(run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "r"
    shutil.copytree(run, copy)
    doc = json.loads((copy / SCORES_FILE).read_text(encoding="utf-8"))
    doc["files"]["hotpotqa"]["scores"] = [0.5] * len(doc["files"]["hotpotqa"]["scores"])
    (copy / SCORES_FILE).write_text(json.dumps(doc), encoding="utf-8")
    assert set(read_run(copy).entries["hotpotqa"].scores) == {0.5}  # read, not recomputed

    # The pred file changes (a record's prediction edited): the kept entry no longer describes it.
    pred = copy / "pred" / "hotpotqa.jsonl"
    lines = lines_of(pred)
    lines[0]["pred"] = lines[0]["answers"][0]
    pred.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    recomputed = read_run(copy).entries["hotpotqa"].scores
    assert recomputed[0] == 1.0
    assert list(recomputed[1:]) == [max(qa_f1_score(x["pred"], a) for a in x["answers"]) for x in lines[1:]]


def test_a_damaged_scores_file_is_recomputed_not_trusted(run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "r"
    shutil.copytree(run, copy)
    expected = read_run(run).entries["2wikimqa"].scores
    for damage in ("not json", json.dumps({"schema": 1, "files": {"2wikimqa": {"sha256": "x", "scores": "y"}}})):
        (copy / SCORES_FILE).write_text(damage, encoding="utf-8")
        assert read_run(copy).entries["2wikimqa"].scores == expected
