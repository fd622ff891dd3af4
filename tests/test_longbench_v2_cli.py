"""LongBench v2 through the command line: `run` (echo backend: the real run machinery without model weights),
`prompts` (equal to pred.py's, goldens in tests/fixtures/longbench_v2), and the one-line refusals (`score` on official
pred.py files: test_longbench_v2_scoring.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longeval.cli import main
from tests.helpers import FIXTURES, assert_exit_2_one_line

pytestmark = pytest.mark.engine  # the tokenizer (transformers)

V2 = FIXTURES / "longbench_v2"
PROMPTS = json.loads((V2 / "golden_prompts.json").read_text(encoding="utf-8"))
BUCKETS = ("overall", "easy", "hard", "short", "medium", "long")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("v2-data")
    (folder / "data.json").write_text(json.dumps(PROMPTS["records"], ensure_ascii=False), encoding="utf-8")
    return folder


def test_prompts_command_shows_pred_py_messages(echo_model, data, tmp_path, capsys):
    """The echo checkpoint's tokenizer is the tiny tokenizer the goldens were made with."""
    out = tmp_path / "prompts.jsonl"
    assert main(["prompts", "--tasks", "longbench_v2,longbench_v2_nocontext", "--data", str(data / "data.json"),
                 "--tokenizer", str(echo_model), "--max-length", "127", "--out", str(out), "--no-progress"]) == 0
    shown = {(line["task"], line["_id"]): line for line in map(json.loads, out.read_text().splitlines())}
    mode_of = {"longbench_v2": "0shot", "longbench_v2_nocontext": "nocontext"}
    for (task, rid), line in shown.items():
        case = next(c for c in PROMPTS["cases"]
                    if c["max_length"] == 127 and c["mode"] == mode_of[task] and c["_id"] == rid)
        assert line["prompt"] == case["calls"][0]["content"]
    assert len(shown) == 2 * len(PROMPTS["records"])


def test_run_writes_pred_py_lines_and_result_py_numbers_then_resumes(echo_model, data, tmp_path, capsys):
    argv = ["run", "--model", str(echo_model), "--backend", "echo", "--method", "none", "--tasks", "longbench-v2",
            "--data", str(data), "--max-length", "200", "--out", str(tmp_path), "--run-name", "r", "--no-progress"]
    assert main(argv) == 0
    pred = tmp_path / "r" / "pred"
    cot = [json.loads(line) for line in (pred / "longbench_v2_cot.jsonl").read_text().splitlines()]
    plain = [json.loads(line) for line in (pred / "longbench_v2.jsonl").read_text().splitlines()]
    assert sorted(line["_id"] for line in cot) == sorted(r["_id"] for r in PROMPTS["records"])
    assert all({"response_cot", "response", "pred", "judge"} <= set(line) for line in cot)
    assert all("response_cot" not in line and len(line["context"]) <= 1000 for line in plain)
    # the answer pass ran on the reasoning: echo answers with the end of its own prompt (the CoT answer template's)
    assert all(line["response"] != line["response_cot"] for line in cot)
    result = json.loads((pred / "result.json").read_text())
    assert set(result) == {"longbench_v2", "longbench_v2_cot"}
    assert [k for k in result["longbench_v2"] if k != "details"] == list(BUCKETS)
    assert result["longbench_v2"]["details"]["counts"]["overall"] == len(PROMPTS["records"])
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert "data.json" in json.dumps(run)
    before = (pred / "longbench_v2_cot.jsonl").read_bytes()
    assert main(argv) == 0  # complete: nothing generated again
    assert (pred / "longbench_v2_cot.jsonl").read_bytes() == before
    report = tmp_path / "report"
    assert main(["report", str(tmp_path / "r"), "--plot", "--out", str(report)]) == 0
    assert (report / "longbench_v2_length.png").read_bytes().startswith(b"\x89PNG")
    table = (report / "leaderboard.md").read_text()
    assert "LongBench v2: overall, by difficulty, by length" in table and "| medium |" in table


def test_refusals_are_one_line(echo_model, data, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    base = ["run", "--model", str(echo_model), "--backend", "echo", "--method", "none", "--max-length", "200",
            "--out", str(tmp_path), "--no-progress"]
    assert_exit_2_one_line(capsys, [*base, "--tasks", "longbench_v2", "--data", str(tmp_path / "nope")],
                           "no such file or folder")
    # the hub is unreachable here: an empty cache with HF_HUB_OFFLINE set stands for "offline and not cached"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert_exit_2_one_line(capsys, [*base, "--tasks", "longbench_v2", "--data", "hub"], "HF_HUB_OFFLINE",
                           "THUDM/LongBench-v2")
    assert_exit_2_one_line(capsys, [*base, "--tasks", "longbench_v2,trec", "--data", str(data)],
                           "read different --data")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([dict(PROMPTS["records"][0], answer="F")]), encoding="utf-8")
    assert_exit_2_one_line(capsys, [*base, "--tasks", "longbench_v2", "--data", str(bad)], f"{bad}:1",
                           "'answer'")


@pytest.mark.parametrize("top_n", [2, 4])
def test_rag_takes_its_number_of_chunks_from_the_command_line(echo_model, data, tmp_path, top_n):
    """--rag N (the official pred.py's --rag N): $DOC$ is the top N retrieved chunks, as in pred.py's prompts."""
    out = tmp_path / "prompts.jsonl"
    assert main(["prompts", "--tasks", "longbench_v2_rag", "--data", str(data / "data.json"), "--tokenizer",
                 str(echo_model), "--max-length", "127", "--rag", str(top_n), "--out", str(out),
                 "--no-progress"]) == 0
    shown = [json.loads(line) for line in out.read_text().splitlines()]
    assert shown
    for line in shown:
        case = next(c for c in PROMPTS["cases"]
                    if c["max_length"] == 127 and c["mode"] == f"rag{top_n}" and c["_id"] == line["_id"])
        assert line["prompt"] == case["calls"][0]["content"]


def test_a_rag_count_below_one_is_refused(echo_model, data, tmp_path, capsys):
    assert_exit_2_one_line(capsys, ["prompts", "--tasks", "longbench_v2_rag", "--data", str(data / "data.json"),
                                    "--tokenizer", str(echo_model), "--max-length", "127", "--rag", "0",
                                    "--out", str(tmp_path / "p.jsonl")], "--rag")
