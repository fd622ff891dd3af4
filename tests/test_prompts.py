"""Prompts equal an independent, plain re-implementation of the official LongBench pred.py procedure."""

from __future__ import annotations

import json

import pytest
from helpers import LONGBENCH, SAMPLES

from longeval.cli import main
from longeval.prompts import JUNCTION_SLACK, build_prompt, load_tokenizer, prompt_budget, resolve_chat_wrapper
from longeval.tasks import get_task

# The official templates (LongBench/config/dataset2prompt.json, carried in tests/fixtures), not the task files.
TEMPLATES = json.loads((LONGBENCH / "dataset2prompt.json").read_text(encoding="utf-8"))
# pred.py: `if dataset not in [...]: prompt = build_chat(...)`
RAW_TASKS = ["trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"]


def official_prompt_ids(template: str, task: str, record: dict, tokenizer, max_length: int, wrapper: str) -> list:
    """pred.py, written out step by step (llama2 = its build_chat for llama2 models)."""
    prompt = template.format(**record)
    tokenized_prompt = tokenizer(prompt, truncation=False).input_ids
    if len(tokenized_prompt) > max_length:
        half = int(max_length / 2)
        prompt = (tokenizer.decode(tokenized_prompt[:half], skip_special_tokens=True)
                  + tokenizer.decode(tokenized_prompt[-half:], skip_special_tokens=True))
    if task not in RAW_TASKS:
        if wrapper == "llama2":
            prompt = f"[INST]{prompt}[/INST]"
        elif wrapper == "hf":
            # The tiny model's template writes BOS itself, so the final encoding must not add another.
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                   add_generation_prompt=True)
            return tokenizer(prompt, truncation=False, add_special_tokens=False).input_ids
    return tokenizer(prompt, truncation=False).input_ids


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(str(tiny_model))


def synthetic(words: int) -> dict:
    context = " ".join(f"word{i % 97} é {i}" if i % 11 == 0 else f"token{i % 13}" for i in range(words))
    return {"context": context, "input": "Which passage mentions the river?", "answers": ["x"], "length": words,
            "all_classes": None, "_id": f"s{words}"}


@pytest.mark.parametrize("task", ["trec", "hotpotqa"])
@pytest.mark.parametrize("wrapper", ["llama2", "hf", "none"])
@pytest.mark.parametrize(("words", "max_length"), [(20, 400), (600, 301), (600, 300), (3000, 512)])
def test_synthetic_records_match_official(tokenizer, task, wrapper, words, max_length):
    record = synthetic(words)
    prompt = build_prompt(get_task(task), record, tokenizer, max_length, wrapper)
    expected = official_prompt_ids(TEMPLATES[task], task, record, tokenizer, max_length, wrapper)
    assert prompt.token_ids == expected
    n_filled = len(tokenizer(TEMPLATES[task].format(**record)).input_ids)
    assert prompt.truncated == (n_filled > max_length)


def test_truncation_boundary_is_strictly_greater(tokenizer):
    task = get_task("trec")
    record = synthetic(200)
    n = len(tokenizer(TEMPLATES["trec"].format(**record)).input_ids)
    assert not build_prompt(task, record, tokenizer, n, "none").truncated
    shorter = build_prompt(task, record, tokenizer, n - 1, "none")
    assert shorter.truncated
    assert shorter.token_ids == official_prompt_ids(TEMPLATES["trec"], "trec", record, tokenizer, n - 1, "none")


def test_hf_wrapper_has_a_single_bos(tokenizer):
    prompt = build_prompt(get_task("hotpotqa"), synthetic(50), tokenizer, 1000, "hf")
    assert prompt.token_ids[0] == tokenizer.bos_token_id
    assert prompt.token_ids.count(tokenizer.bos_token_id) == 1


def test_raw_tasks_are_never_wrapped(tokenizer):
    prompt = build_prompt(get_task("trec"), synthetic(50), tokenizer, 1000, "llama2")
    assert "[INST]" not in prompt.text and prompt.text.startswith("Please determine")


def test_default_chat_wrapper(tokenizer):
    assert resolve_chat_wrapper("auto", tokenizer) == "hf"  # the tiny model ships a chat template
    assert resolve_chat_wrapper("llama2", tokenizer) == "llama2"


def test_default_budget_leaves_room_for_answer_and_wrapper(tokenizer):
    window = 1000
    trec, hotpot = get_task("trec"), get_task("hotpotqa")
    assert prompt_budget(trec, tokenizer, "hf", window, None) == (window - trec.max_new_tokens - JUNCTION_SLACK, 0)
    budget, overhead = prompt_budget(hotpot, tokenizer, "hf", window, None)
    assert overhead > 0 and budget == window - hotpot.max_new_tokens - overhead - JUNCTION_SLACK
    assert prompt_budget(hotpot, tokenizer, "hf", window, 700) == (700, overhead)


def _samples() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(SAMPLES.glob("*.sample.jsonl")):
        out.append((path.name.split(".")[0], json.loads(path.read_text(encoding="utf-8").splitlines()[0])))
    return out


@pytest.mark.fidelity
@pytest.mark.parametrize("wrapper", ["llama2", "hf", "none"])
@pytest.mark.parametrize("max_length", [1500, 3500, 1_000_000])
def test_real_longbench_records_match_official(tokenizer, wrapper, max_length):
    templates = TEMPLATES
    samples = _samples()
    assert len(samples) == 9
    truncated = 0
    for task, record in samples:
        prompt = build_prompt(get_task(task), record, tokenizer, max_length, wrapper)
        assert prompt.token_ids == official_prompt_ids(templates[task], task, record, tokenizer, max_length,
                                                       wrapper), task
        truncated += prompt.truncated
    # The real records are thousands of tokens long: the short budgets truncate, the huge one never does.
    if max_length == 1_000_000:
        assert truncated == 0
    else:
        assert truncated > 0


def test_prompts_command_writes_fields(tmp_path, tiny_model):
    data = tmp_path / "data"
    data.mkdir()
    records = [synthetic(30), synthetic(900)]
    (data / "hotpotqa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "prompts.jsonl"
    assert main(["prompts", "--tasks", "hotpotqa", "--data", str(tmp_path), "--tokenizer", str(tiny_model),
                 "--max-length", "256", "--chat-template", "llama2", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [set(line) for line in lines] == [{"_id", "task", "prompt", "n_tokens", "truncated"}] * 2
    assert [line["truncated"] for line in lines] == [False, True]
    assert all(line["prompt"].startswith("[INST]") and line["task"] == "hotpotqa" for line in lines)
    tokenizer = load_tokenizer(str(tiny_model))
    assert [line["n_tokens"] for line in lines] == [len(tokenizer(line["prompt"]).input_ids) for line in lines]


def test_prompts_command_out_dash_writes_the_prompts_to_stdout(tmp_path, tiny_model, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hotpotqa.jsonl").write_text(json.dumps(synthetic(900)) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["prompts", "--tasks", "hotpotqa", "--data", str(tmp_path), "--tokenizer", str(tiny_model),
                 "--max-length", "256", "--out", "-", "--no-progress"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]  # stdout holds the JSON lines only
    assert len(lines) == 1 and lines[0]["truncated"] is True
    assert "1 prompts" in captured.err and "1 truncated" in captured.err and "stdout" in captured.err
    assert not (tmp_path / "-").exists()


def test_prompts_command_refuses_a_limit_below_one(tmp_path, tiny_model, capsys):
    out = tmp_path / "prompts.jsonl"
    assert main(["prompts", "--tasks", "hotpotqa", "--data", str(tmp_path), "--tokenizer", str(tiny_model),
                 "--max-length", "256", "--limit", "0", "--out", str(out)]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert not out.exists()
