"""`longeval finetune`: conversations checked with one-line errors, loss only on the chat template's response spans,
the training model computes what the evaluation model computes (EABF's query scale included), the loss falls on a
repeated batch, and the checkpoint is evaluated by `longeval run` with no --method and loads in vLLM too."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from longeval.cli import main
from longeval.finetune.conversations import IGNORE, check_record, encode
from longeval.finetune.train import Recipe, steps_per_run

pytestmark = pytest.mark.engine  # the training code imports torch

CONVERSATION = {"id": "c1", "conversations": [
    {"from": "system", "value": "Be brief."},
    {"from": "human", "value": "Where did the committee meet on Tuesday?"},
    {"from": "gpt", "value": "In the city hall near the river."},
    {"from": "human", "value": "And what did they discuss?"},
    {"from": "gpt", "value": "The annual budget for public transport."},
]}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_the_papers_small_data_recipe_takes_six_steps() -> None:
    recipe = Recipe()
    assert (recipe.batch_size, recipe.epochs, recipe.learning_rate) == (32, 2.0, 2e-5)
    assert (recipe.adam_beta1, recipe.adam_beta2, recipe.weight_decay, recipe.scheduler) == (0.9, 0.95, 0.1,
                                                                                              "cosine")
    assert steps_per_run(100, recipe) == 6


def test_only_response_tokens_carry_labels(tiny_model: Path) -> None:
    """The tiny model's template renders an assistant turn as ' {content}</s>' after '[/INST]'; nothing else counts."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    example = encode(tokenizer, check_record(CONVERSATION, "x.jsonl", 1), max_length=10_000)
    assert example.input_ids == tokenizer(tokenizer.apply_chat_template(
        [{"role": m["from"].replace("human", "user").replace("gpt", "assistant"), "content": m["value"]}
         for m in CONVERSATION["conversations"]], tokenize=False), add_special_tokens=False)["input_ids"]
    labelled = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE]
    assert all(label in (IGNORE, token) for token, label in zip(example.input_ids, example.labels, strict=True))
    expected = " In the city hall near the river.</s> The annual budget for public transport.</s>"
    assert tokenizer.decode(labelled) == expected
    unlabelled = tokenizer.decode([t for t, label in zip(example.input_ids, example.labels, strict=True)
                                   if label == IGNORE])
    for text in ("Be brief.", "Where did the committee meet on Tuesday?", "And what did they discuss?", "[INST]"):
        assert text in unlabelled
    # Truncated to the target length, labels cut with the ids.
    short = encode(tokenizer, check_record(CONVERSATION, "x.jsonl", 1), max_length=20)
    assert len(short.input_ids) == len(short.labels) == 20
    assert short.labels == example.labels[:20]


@pytest.mark.parametrize(("content", "fragment"), [
    ('{"conversations": [{"from": "human", "value": "hi"}]}\n', "x.jsonl:1 field 'conversations': has no assistant"),
    ('{"conversations": [{"from": "robot", "value": "hi"}]}\n', "field 'conversations[0].from': unknown role"),
    ('{"conversations": [{"from": "gpt", "value": 3}]}\n', "field 'conversations[0].value': must be a string"),
    ('{"messages": []}\n', "field 'messages': must be a non-empty list"),
    ('{"text": "hello"}\n', "x.jsonl:1: no 'conversations' (ShareGPT) or 'messages' field"),
    ('\n{"conversations": \n', "x.jsonl:2: not valid JSON"),
])
def test_bad_conversations_are_refused_with_one_line(tiny_model: Path, tmp_path: Path, capsys, content: str,
                                                     fragment: str) -> None:
    data = tmp_path / "x.jsonl"
    data.write_text(content)
    code = main(["finetune", "--model", str(tiny_model), "--method", "eabf", "--data", str(data),
                 "--out", str(tmp_path / "out"), "--max-length", "512"])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_hub_dataset_is_read_from_the_local_hub_cache(tmp_path: Path, monkeypatch) -> None:
    """The hub is unreachable here: a cache laid out as huggingface_hub writes it stands in for the download."""
    from longeval.finetune.conversations import load_conversations

    commit = "0" * 40
    repo = tmp_path / "hub" / "datasets--someone--long-chats"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "chats.json").write_text(json.dumps([CONVERSATION, CONVERSATION]))
    from huggingface_hub import constants

    # huggingface_hub reads these at import; set both the module constants and the environment.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    conversations = load_conversations("someone/long-chats")
    assert len(conversations) == 2 and conversations[1].origin.endswith("chats.json:2")
    assert conversations[0].messages[2] == {"role": "assistant", "content": "In the city hall near the river."}
    from longeval.errors import UserError

    with pytest.raises(UserError, match="cannot fetch dataset someone/missing"):
        load_conversations("someone/missing")


@pytest.mark.slow
def test_training_model_computes_the_evaluation_models_logits(tiny_model: Path) -> None:
    """Train mode with gradient checkpointing, prompts past L0 = 256: EABF's query scale acts as in evaluation."""
    from longeval.backends.hf import load_hf_model
    from longeval.finetune.train import training_model
    from longeval.methods import parse_method

    ids = torch.randint(3, 900, (2, 600), generator=torch.Generator().manual_seed(0))
    trained = training_model(tiny_model, parse_method("eabf"), Recipe(max_length=1024))
    trained.train()
    trained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    training_logits = trained(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).logits.detach()
    with torch.no_grad():
        evaluation = load_hf_model(tiny_model, parse_method("eabf"), 1024)(ids).logits
        abf = load_hf_model(tiny_model, parse_method("abf"), 1024)(ids).logits
    assert torch.allclose(training_logits, evaluation, atol=1e-5)
    assert not torch.allclose(training_logits[:, 300:], abf[:, 300:], atol=1e-3)  # the scale is really on


@pytest.fixture(scope="module")
def finetuned(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EABF fine-tune of the tiny model on one conversation repeated: 8 samples, batch 4, 2 epochs = 4 steps."""
    folder = tmp_path_factory.mktemp("finetune")
    data = write_jsonl(folder / "chats.jsonl", [CONVERSATION] * 8)
    out = folder / "tiny-eabf"
    assert main(["finetune", "--model", str(tiny_model), "--method", "eabf", "--data", str(data), "--samples", "8",
                 "--batch-size", "4", "--micro-batch-size", "2", "--max-length", "512", "--lr", "1e-3",
                 "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_loss_falls_on_a_repeated_batch(finetuned: Path) -> None:
    log = json.loads((finetuned / "longeval_finetune.json").read_text())
    assert log["steps"] == 4 and log["gradient_accumulation_steps"] == 2 and len(log["losses"]) == 4
    assert log["losses"][-1] < 0.5 * log["losses"][0]
    assert not list(finetuned.parent.glob(".*partial*"))  # staging folder renamed into place


@pytest.mark.slow
def test_checkpoint_is_the_extended_trained_model(finetuned: Path, tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from longeval.backends.hf import load_hf_model
    from longeval.methods import method_from_config, parse_method

    config = json.loads((finetuned / "config.json").read_text())
    assert method_from_config(config) == parse_method("eabf")
    assert config["max_position_embeddings"] == 512 and config["longeval_finetune"]["steps"] == 4
    assert json.loads((finetuned / "tokenizer_config.json").read_text())["model_max_length"] >= 512
    assert not (finetuned / "training_args.bin").exists()
    ids = torch.randint(3, 900, (1, 400), generator=torch.Generator().manual_seed(1))
    # The same weights put into the base model with the method applied explicitly give the same logits.
    direct = load_hf_model(tiny_model, parse_method("eabf"), 512)
    direct.load_state_dict(load_file(str(finetuned / "model.safetensors")))
    with torch.no_grad():
        loaded = load_hf_model(finetuned)(ids).logits
        assert torch.equal(loaded, direct(ids).logits)
        assert not torch.allclose(loaded, load_hf_model(tiny_model, parse_method("eabf"), 512)(ids).logits,
                                  atol=1e-3)
    # `longeval run` evaluates it with no --method, as EABF.
    data = tmp_path / "lb" / "data" / "trec.jsonl"
    data.parent.mkdir(parents=True)
    write_jsonl(data, [{"input": "What is the river?", "context": "Question: Who met? Type: Human being\n" * 20,
                        "answers": ["Human being"], "length": 200, "all_classes": ["Human being", "City"],
                        "_id": f"t{i}"} for i in range(2)])
    assert main(["run", "--model", str(finetuned), "--tasks", "trec", "--data", str(tmp_path / "lb"), "--out",
                 str(tmp_path / "runs"), "--run-name", "ft", "--backend", "hf", "--max-length", "400",
                 "--no-progress"]) == 0
    run = json.loads((tmp_path / "runs" / "ft" / "run.json").read_text())
    assert run["method"]["name"] == "eabf" and run["status"] == "complete"


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")
def test_checkpoint_generates_the_same_tokens_in_vllm(finetuned: Path, tmp_path: Path, monkeypatch) -> None:
    from longeval.backends.base import GenerationParams
    from longeval.backends.hf import HFBackend
    from longeval.backends.vllm import VLLMBackend

    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    prompts = [torch.randint(3, 900, (n,), generator=torch.Generator().manual_seed(n)).tolist() for n in (300, 480)]
    params = GenerationParams(max_new_tokens=12)
    hf = HFBackend(finetuned, dtype="float32", device="cpu")
    expected = [g.token_ids for g in hf.generate(prompts, params)]
    hf.close()
    engine = VLLMBackend(finetuned, method=None, max_length=512, dtype="float32")
    try:
        assert engine.method.name == "eabf"
        assert [g.token_ids for g in engine.generate(prompts, params)] == expected
    finally:
        engine.close()


@pytest.mark.parametrize("flag, value", [("--lr", "nan"), ("--lr", "inf"), ("--lr", "-1"), ("--lr", "0"),
                                         ("--epochs", "nan"), ("--epochs", "inf"), ("--epochs", "0")])
def test_hyperparameters_that_cannot_train_are_refused(tiny_model: Path, tmp_path: Path, capsys, flag, value) -> None:
    data = write_jsonl(tmp_path / "chats.jsonl", [CONVERSATION] * 4)
    assert main(["finetune", "--model", str(tiny_model), "--method", "eabf", "--data", str(data), "--out",
                 str(tmp_path / "out"), "--batch-size", "2", f"{flag}={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and flag in err and "finite" in err, err
    assert not (tmp_path / "out").exists()


def test_a_loss_that_becomes_non_finite_stops_training_and_writes_nothing(tiny_model: Path, tmp_path: Path,
                                                                          capsys) -> None:
    """A finite but absurd learning rate: the first step makes the weights overflow, the next loss is NaN."""
    data = write_jsonl(tmp_path / "chats.jsonl", [CONVERSATION] * 4)
    out = tmp_path / "out"
    assert main(["finetune", "--model", str(tiny_model), "--method", "eabf", "--data", str(data), "--samples", "4",
                 "--batch-size", "1", "--epochs", "1", "--max-length", "512", "--lr", "1e30", "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]  # besides progress bars
    assert len(errors) == 1 and "diverged" in errors[0] and "nothing" in errors[0] and "Traceback" not in errors[0]
    assert not out.exists() and not list(tmp_path.glob(".out*"))
