"""LongBench v2 prompts and prediction lines equal what the official pred.py sends and writes (goldens computed by
running pred.py's get_pred with a recording client: tests/fixtures/longbench_v2/PROVENANCE.md), on the tiny
model's byte-level tokenizer, for every mode at several max lengths (truncated and not, odd and even)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from longeval.benchmarks.longbench_v2.predictions import line_from_outputs
from longeval.benchmarks.longbench_v2.prompting import answer_prompt, first_prompt, rag_context, truncate_ids
from tests.helpers import FIXTURES

pytestmark = [pytest.mark.engine, pytest.mark.fidelity]

GOLDEN = json.loads((FIXTURES / "longbench_v2" / "golden_prompts.json").read_text(encoding="utf-8"))
RECORDS = {r["_id"]: r for r in GOLDEN["records"]}
TASKS = Path(__file__).resolve().parents[1] / "tasks" / "longbench_v2"
MODE_TASK = {"0shot": "longbench_v2", "cot": "longbench_v2_cot", "nocontext": "longbench_v2_nocontext",
             "rag2": "longbench_v2_rag", "rag4": "longbench_v2_rag"}


def task_doc(name: str) -> dict:
    return yaml.safe_load((TASKS / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from longeval.tinymodel import PRESETS, _train_tokenizer

    built = _train_tokenizer(PRESETS["tiny"].vocab_size)
    folder = tmp_path_factory.mktemp("v2-tokenizer")
    built.save_pretrained(folder)
    digest = hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()
    assert digest == GOLDEN["tokenizer_json_sha256"], "the tiny tokenizer changed: regenerate the goldens"
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['mode']}-{c['max_length']}-{c['_id']}")
def test_prompts_and_lines_equal_pred_py(tokenizer, case):
    record, mode, max_length = RECORDS[case["_id"]], case["mode"], case["max_length"]
    doc = task_doc(MODE_TASK[mode])
    top_n = int(mode[3:]) if mode.startswith("rag") else 0
    calls, outputs = case["calls"], case["outputs"]
    first = first_prompt(doc["name"], doc["prompt"], record, doc["mode"], tokenizer, max_length, "hf", top_n)
    assert first.text == calls[0]["content"]
    assert first.truncated == (max_length == 48) or 48 < max_length < 100000
    budgets = [doc["max_new_tokens"], doc.get("answer_tokens")]  # CoT: reasoning, then answer
    assert [c["max_tokens"] for c in calls] == budgets[:len(calls)]
    assert all(c["role"] == "user" and c["n_messages"] == 1 for c in calls)
    if mode == "cot":
        used = outputs[:len(calls)]
        if len(calls) == 2:
            second = answer_prompt(doc["name"], doc["answer_prompt"], record, outputs[0].strip(), tokenizer,
                                   max_length, "hf")
            assert second.text == calls[1]["content"]
    else:
        used = outputs[:1]
    context = rag_context(record, top_n) if top_n else record["context"]
    line = line_from_outputs(record, context, used, cot=mode == "cot")
    if case["lines"]:
        official = {k: v for k, v in case["lines"][0].items() if k != "retrieved_context"}
        assert line == official and list(line) == list(official)
    else:  # pred.py skipped the record: longeval keeps it, marked and wrong
        assert line["empty_output"] is True and line["judge"] is False and line["pred"] is None


def test_the_chat_message_is_tokenised_as_the_server_does(tokenizer):
    """The engine gets the chat template's string tokenised without extra special tokens (vLLM's chat default)."""
    record = RECORDS["v2-mid"]
    doc = task_doc("longbench_v2")
    prompt = first_prompt(doc["name"], doc["prompt"], record, "0shot", tokenizer, 127, "hf")
    chat = tokenizer.apply_chat_template([{"role": "user", "content": prompt.text}], tokenize=False,
                                         add_generation_prompt=True)
    assert prompt.token_ids == tokenizer(chat, add_special_tokens=False).input_ids
    assert prompt.token_ids.count(tokenizer.bos_token_id) == 1  # the template's own BOS, not a second one
    bare = first_prompt(doc["name"], doc["prompt"], record, "0shot", tokenizer, 127, "none")
    assert bare.token_ids == tokenizer(prompt.text).input_ids and bare.truncated


def test_truncation_keeps_pred_py_halves():
    ids = list(range(10))
    assert truncate_ids(ids, 10) == ids
    assert truncate_ids(ids, 4) == [0, 1, 8, 9]
    assert truncate_ids(ids, 5) == [0, 1, 7, 8, 9]  # -5//2 == -3: the tail gets the odd id
