"""`longeval run --tasks ruler...` end to end on the echo backend (a real tokenizer, a fake engine that repeats the
prompt's tail): a length sweep writes one run folder per length whose run.json names seed, haystack source and
checksum; `longeval prompts` shows the very records the run sent; a second run takes its records from the cache;
`longeval report` prints the RULER section with the effective length at --threshold."""

from __future__ import annotations

import hashlib
import json

import pytest

from longeval.cli import main
from tests.helpers import assert_exit_2_one_line

pytestmark = pytest.mark.engine

# The essay haystack goes in steps of 500 words (RULER's), which the echo model's small vocabulary makes ~1.7k tokens.
TASKS = "ruler_niah_single_1,ruler_niah_single_2,ruler_vt,ruler_fwe"
ESSAY = ("It was a bright cold day in April. The clocks were striking thirteen! Startups grow fast; most die. "
         "Why do people write essays? Because writing is thinking, and thinking is rare. ") * 60


@pytest.fixture
def setup(tmp_path, echo_model, monkeypatch):
    monkeypatch.setenv("LONGEVAL_CACHE", str(tmp_path / "cache"))
    essays = tmp_path / "essay.txt"
    essays.write_text(ESSAY)
    common = ["--model", str(echo_model), "--backend", "echo", "--tasks", TASKS, "--ruler-essays", str(essays),
              "--limit", "2", "--no-progress"]
    return tmp_path, essays, common


def test_a_sweep_records_its_inputs_sends_what_prompts_shows_and_reuses_the_cache(setup, echo_model, capsys):
    tmp_path, essays, common = setup
    assert main(["run", *common, "--max-length", "3072,4096", "--out", str(tmp_path / "runs")]) == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    info = json.loads((folders[0] / "run.json").read_text())
    identity = info["data"]["identity"]["ruler_niah_single_2"]
    assert (identity["seed"], identity["haystack"], identity["source"]) == (42, "essay", str(essays))
    assert identity["sha256"] == hashlib.sha256(ESSAY.encode()).hexdigest()
    assert info["data"]["identity"]["ruler_vt"]["haystack"] == "noise"
    cached = sorted((tmp_path / "cache" / "ruler").iterdir())
    assert len(cached) == 4 * 2  # tasks x lengths

    out = tmp_path / "prompts.jsonl"
    assert main(["prompts", "--tokenizer", str(echo_model), "--tasks", TASKS, "--ruler-essays", str(essays),
                 "--max-length", "3072", "--limit", "2", "--out", str(out), "--no-progress"]) == 0
    shown = [json.loads(line) for line in out.read_text().splitlines()]
    length = next(f for f in folders if f.name.endswith("_3072"))
    by_id = {line["_id"]: line for task in TASKS.split(",")
             for line in map(json.loads, (length / "pred" / f"{task}.jsonl").read_text().splitlines())}
    assert sorted(s["_id"] for s in shown) == sorted(by_id)  # the pred file is in engine-batch order
    sent = [by_id[s["_id"]] for s in shown]
    for prompt, line in zip(shown, sent, strict=True):
        assert not prompt["truncated"] and line["length"] <= 3072
        assert line["pred"].strip() and line["pred"].strip()[-20:] in prompt["prompt"]  # the echo of its tail
        assert prompt["prompt"].endswith(line["pred"][-10:]) or line["pred"].strip() in prompt["prompt"]

    stamps = {p: p.stat().st_mtime_ns for p in cached}
    assert main(["run", *common, "--max-length", "3072", "--ruler-seed", "42",
                 "--out", str(tmp_path / "again")]) == 0
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps  # served from the cache, not rewritten
    again = next((tmp_path / "again").iterdir())
    assert (again / "pred" / "ruler_vt.jsonl").read_text() == (length / "pred" / "ruler_vt.jsonl").read_text()

    capsys.readouterr()
    assert main(["report", *map(str, folders), "--out", str(tmp_path / "report"), "--format", "md",
                 "--threshold", "0"]) == 0
    report = capsys.readouterr().out
    assert "RULER average by length" in report and "threshold 0" in report and "| 4k |" in report


def test_a_task_without_its_input_is_refused_in_one_line(setup, capsys):
    tmp_path, _, common = setup
    argv = ["run", *[c for c in common if c not in ("--ruler-essays",)], "--max-length", "1024",
            "--out", str(tmp_path / "runs")]
    argv.remove(str(tmp_path / "essay.txt"))
    assert_exit_2_one_line(capsys, argv, "ruler_niah_single_2", "--ruler-essays PATH")
    assert_exit_2_one_line(capsys, ["run", *common[:6], "--tasks", "ruler_qa_1", "--max-length", "1024",
                                    "--out", str(tmp_path / "runs")], "--ruler-qa squad=FILE")
