"""Run folders written by earlier longeval versions keep loading: run.json schema 1 (before benchmark families
were units; a top-level `longbench_e`) reads as a RunRecord, reports, re-scores to the same result.json, and
resumes with the same settings fingerprint (tests/fixtures/runs-v1, see PROVENANCE.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from longeval.runs.record import SCHEMA_VERSION, RunRecord
from longeval.scoring import format_result, score_tasks

OLD = Path(__file__).parent / "fixtures" / "runs-v1"
FOLDERS = ("v1-e", "v1-longbench", "v1-passkey")


@pytest.mark.parametrize("name", FOLDERS)
def test_a_schema_1_run_json_loads_and_rescoring_it_writes_the_same_result_json(name):
    record = RunRecord.load(OLD / name / "run.json")
    assert record.schema_version == 1 and SCHEMA_VERSION > 1
    assert record.status == "complete" and record.run_name == name
    assert record.settings["longbench_e"] is (name == "v1-e")  # the family's setting, kept in `settings`
    written = (OLD / name / "pred" / "result.json").read_text(encoding="utf-8")
    assert format_result(score_tasks(OLD / name / "pred", record.tasks)) == written


def test_schema_1_folders_report(tmp_path, capsys):
    from longeval.cli import main

    assert main(["report", str(OLD), "--out", str(tmp_path / "board"), "--format", "csv"]) == 0
    board = (tmp_path / "board" / "leaderboard.csv").read_text(encoding="utf-8")
    assert all(name in board for name in FOLDERS)


@pytest.mark.engine
def test_a_schema_1_folder_resumes_under_the_same_fingerprint(tmp_path, echo_model):
    """The settings fingerprint did not change: the new code extends an old folder (--limit 2 -> 3; passkey's
    generated records are checksummed as a whole, so its folder resumes at the same --limit)."""
    from test_runner import make_data

    from longeval.cli import main

    data = make_data(tmp_path / "lb", task="hotpotqa_e", n=3)
    records = [json.loads(line) for line in (data / "data" / "hotpotqa_e.jsonl").read_text().splitlines()]
    for record, length in zip(records, (100, 5000, 9000), strict=True):
        record["length"] = length
    (data / "data" / "hotpotqa_e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    make_data(data, task="hotpotqa", n=3)
    runs = tmp_path / "runs"
    cases = (("v1-e", "hotpotqa_e", 3), ("v1-passkey", "passkey", 2), ("v1-longbench", "hotpotqa", 3))
    for name, tasks, limit in cases:
        shutil.copytree(OLD / name, runs / name)
        assert main(["run", "--model", str(echo_model), "--tasks", tasks, "--data", str(data), "--out", str(runs),
                     "--backend", "echo", "--max-length", "200", "--no-progress", "--run-name", name,
                     "--limit", str(limit)]) == 0, name
        info = json.loads((runs / name / "run.json").read_text())
        assert info["schema_version"] == SCHEMA_VERSION and info["sessions"] == 2
        assert info["fingerprint"] == json.loads((OLD / name / "run.json").read_text())["fingerprint"]
        assert [c["done"] for c in info["records"].values()] == [limit]
