"""The passkey task: seeded records that fill the prompt budget, the key at its depth, exact-match scoring,
scores per length and depth read back from prediction files (what the report's plots draw)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longeval.benchmarks.passkey.generate import (
    FILLER,
    INTRO,
    KEY_LINE,
    PasskeySettings,
    cell_scores,
    generate,
    parse_id,
    passkey_score,
)
from longeval.data import DataSource
from longeval.errors import UserError
from longeval.prompts import build_prompt, load_tokenizer
from longeval.tasks import get_task, resolve_tasks, suites


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(str(tiny_model))


def test_records_fill_the_budget_without_truncation_and_put_the_key_at_its_depth(tokenizer):
    task = get_task("passkey")
    settings = PasskeySettings(depths=(0.1, 0.5, 0.9), repeats=2)
    unit = len(tokenizer.encode(FILLER, add_special_tokens=False)) + 2  # +2: joins tokenize differently
    for budget in (200, 777, 1500):
        records = generate(tokenizer, budget, settings)
        assert len(records) == 6 and len({r["_id"] for r in records}) == 6
        keys = {r["answers"][0] for r in records}
        assert len(keys) == 6 and all(len(k) == 5 and k.isdigit() for k in keys)
        for record in records:
            prompt = build_prompt(task, record, tokenizer, budget, "none")
            assert not prompt.truncated  # the middle truncation never cuts a passkey prompt
            # filled: within one filler unit of the budget (+1: the tokenizer's BOS)
            assert budget - unit <= len(prompt.token_ids) <= budget + 1
            text = record["context"]
            line = KEY_LINE.format(key=record["answers"][0])
            assert text.count(line) == 1
            depth = parse_id(record["_id"])[1]
            filler = len(text) - len(INTRO) - len(line)  # characters of filler around the key line
            assert filler >= 0
            if budget >= 777:  # enough filler sentences for the depth to be resolved to one sentence
                position = (text.index(line) - len(INTRO)) / filler
                assert abs(position - depth) <= len(FILLER) / filler


def test_generation_is_deterministic_and_limit_takes_spread_depths_at_every_length(tokenizer):
    source = DataSource("generated", Path("."), describe="generated")
    task = get_task("passkey_sweep")
    first = source.load(task, 6, tokenizer=tokenizer, budget=800)
    digest = dict(source.file_sha256)
    assert source.load(task, 6, tokenizer=tokenizer, budget=800) == first and source.file_sha256 == digest
    cells = [parse_id(r["_id"]) for r in first]
    # a quarter, half and all of the budget for the first two depths in the task's listed order
    assert cells == [(200, 0.1), (400, 0.1), (800, 0.1), (200, 0.5), (400, 0.5), (800, 0.5)]
    # a record does not depend on --limit: the first of a longer selection are the same records
    assert source.load(task, 9, tokenizer=tokenizer, budget=800)[:6] == first


def test_exact_match_of_the_first_number():
    assert passkey_score(" 12345. Remember it.", "12345") == 1.0
    assert passkey_score("The pass key is 12345", "12345") == 1.0
    assert passkey_score(" 1234", "12345") == 0.0
    assert passkey_score(" 123456", "12345") == 0.0
    assert passkey_score(" 54321 or 12345", "12345") == 0.0  # the first number counts, not any
    assert passkey_score(" the grass is green", "12345") == 0.0


def test_passkey_is_its_own_suite_in_the_task_registry():
    assert [t.name for t in resolve_tasks("passkey")] == ["passkey"]
    assert "passkey" not in suites()["longbench"] and "passkey" not in suites()["paper12"]
    assert get_task("passkey").metric == "passkey" and get_task("passkey").source == "generated"


def test_bad_generator_settings_are_one_line_errors():
    with pytest.raises(UserError, match="depths"):
        PasskeySettings.from_data({"depths": [1.5]}, "task x")
    with pytest.raises(UserError, match="repeats"):
        PasskeySettings.from_data({"repeats": 0}, "task x")


def test_cell_scores_group_predictions_by_length_and_depth(tmp_path):
    lines = [{"pred": " 11111.", "answers": ["11111"], "_id": "passkey-1024-d10-r0"},
             {"pred": " 22222.", "answers": ["22222"], "_id": "passkey-1024-d10-r1"},
             {"pred": " 9.", "answers": ["33333"], "_id": "passkey-1024-d90-r0"},
             {"pred": " 44444", "answers": ["44444"], "_id": "passkey-4096-d90-r0"}]
    path = tmp_path / "passkey.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cell_scores(path) == {(1024, 0.1): 100.0, (1024, 0.9): 0.0, (4096, 0.9): 100.0}


@pytest.mark.slow
def test_passkey_run_scores_and_report_plots(tmp_path, tiny_model):
    """A passkey run needs no --data, writes result.json, and the report draws both passkey plots."""
    from longeval.cli import main

    runs = tmp_path / "runs"
    assert main(["run", "--model", str(tiny_model), "--method", "yarn", "--tasks", "passkey_sweep", "--limit", "6",
                 "--max-length", "600", "--backend", "hf", "--out", str(runs), "--no-progress"]) == 0
    folder = next(runs.iterdir())
    result = json.loads((folder / "pred" / "result.json").read_text())
    assert set(result) == {"passkey_sweep"} and 0.0 <= result["passkey_sweep"] <= 100.0
    info = json.loads((folder / "run.json").read_text())
    assert info["records"]["passkey_sweep"] == {"done": 6, "total": 6}  # 2 depths x 3 lengths
    ids = [json.loads(line)["_id"] for line in (folder / "pred" / "passkey_sweep.jsonl").read_text().splitlines()]
    assert len({i.split("-d")[0] for i in ids}) == 3 and len({i.split("-d")[1] for i in ids}) == 2, ids
    assert info["data"]["source"] == "generated" and "passkey_sweep.generated" in info["data"]["files"]
    assert main(["report", str(runs), "--plot", "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "passkey_vs_length.png").stat().st_size > 1000
    assert (tmp_path / "report" / "passkey_depth_length.png").stat().st_size > 1000
