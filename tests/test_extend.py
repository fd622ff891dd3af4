"""`longeval extend`: the derived checkpoint carries the method, shares the weights, and loads as the extended
model; and the tiny-model builder behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import assert_one_line_error

from longeval.cli import main
from longeval.methods import method_from_config, parse_method

pytestmark = pytest.mark.engine  # every test builds or loads the tiny model


def extend(base: Path, out: Path, spec: str, *extra: str) -> int:
    return main(["extend", str(base), "--method", spec, "--out", str(out), *extra])


@pytest.mark.parametrize(("spec", "extra", "positions"), [
    ("eabf:skip_layers=0", ["--max-length", "1024"], 1024),
    ("yarn:factor=4", [], 1024),
    ("pi:factor=2", [], 256),
    ("dynamic-ntk:factor=2", ["--max-length", "768"], 768),
])
def test_extended_checkpoint_carries_the_method(tiny_model: Path, tmp_path: Path, capsys, spec: str,
                                                extra: list[str], positions: int) -> None:
    out = tmp_path / "ext"
    assert extend(tiny_model, out, spec, *extra) == 0
    assert "hard-linked" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    method = parse_method(spec)
    assert method_from_config(config) == method
    assert config["max_position_embeddings"] == positions
    assert "rope_scaling" not in config and "rope_theta" not in config
    assert config["longeval_method"]["original_max_position_embeddings"] == 256
    assert (config.get("longeval_query_scale") is not None) == (method.name == "eabf")
    # Weights are shared with the base, tokenizer files copied.
    assert (out / "model.safetensors").stat().st_ino == (tiny_model / "model.safetensors").stat().st_ino
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (out / name).is_file()
    assert not (out / "longeval_tiny_model.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["eabf", "ntk:factor=4"])
def test_extended_checkpoint_loads_as_the_extended_model(tiny_model: Path, tmp_path: Path, spec: str) -> None:
    from longeval.backends.hf import load_hf_model

    out = tmp_path / "ext"
    assert extend(tiny_model, out, spec, "--max-length", "1024") == 0
    ids = torch.randint(3, 900, (1, 700), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        derived = load_hf_model(out)(ids).logits
        direct = load_hf_model(tiny_model, parse_method(spec), 1024)(ids).logits
        plain = load_hf_model(tiny_model)(ids).logits
    assert torch.equal(derived, direct)
    assert not torch.allclose(derived, plain, atol=1e-3)


def test_reextending_starts_from_the_original_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    assert extend(tiny_model, tmp_path / "a", "ntk:factor=4") == 0
    assert extend(tmp_path / "a", tmp_path / "b", "ntk:factor=2") == 0
    assert extend(tiny_model, tmp_path / "c", "ntk:factor=2") == 0
    b = json.loads((tmp_path / "b" / "config.json").read_text())
    c = json.loads((tmp_path / "c" / "config.json").read_text())
    assert b["rope_parameters"] == c["rope_parameters"]
    assert b["max_position_embeddings"] == c["max_position_embeddings"] == 512


@pytest.mark.parametrize(("args", "fragment"), [
    (["eabf"], "give --max-length"),
    (["pi:factor=2", "--max-length", "1000"], "exceeds what method pi:factor=2 covers"),
    (["yarn:factor=abc"], "factor must be a number"),
])
def test_extend_refuses_with_one_line(tiny_model: Path, tmp_path: Path, capsys, args: list[str],
                                      fragment: str) -> None:
    assert extend(tiny_model, tmp_path / "out", *args) == 2
    assert_one_line_error(capsys.readouterr().err, fragment)


def test_extend_refuses_non_empty_output_and_missing_base(tiny_model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    assert extend(tiny_model, tmp_path / "out", "yarn") == 2
    assert "not empty" in capsys.readouterr().err
    assert extend(tmp_path / "nowhere", tmp_path / "out2", "yarn") == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_tiny_model_layout_and_tokenizer(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    config = json.loads((tiny_model / "config.json").read_text())
    assert config["head_dim"] == 32 and config["num_hidden_layers"] >= 4
    assert config["max_position_embeddings"] == 256
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert config["vocab_size"] == len(tokenizer)
    text = "Answer: 42 🙂 中文回答\n  indented\ttab"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert len(tokenizer.encode("\n", add_special_tokens=False)) == 1
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert "hi" in chat and chat != "hi"


def test_tiny_model_build_is_reused(tiny_model: Path) -> None:
    from longeval.tinymodel import build_tiny_model

    before = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny_model) == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.parametrize(("config", "fragment"), [
    ({"max_position_embeddings": 256}, "field 'hidden_size'"),
    ({"max_position_embeddings": 256, "hidden_size": 128, "num_attention_heads": 0}, "field 'num_attention_heads'"),
    ([1, 2], "must hold a JSON object"),
])
def test_unusable_base_configs_and_outputs_are_one_line(tiny_model: Path, tmp_path: Path, capsys, config,
                                                       fragment: str) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps(config))
    assert extend(base, tmp_path / "out", "yarn") == 2
    assert_one_line_error(capsys.readouterr().err, fragment)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert extend(tiny_model, a_file, "yarn") == 2
    assert_one_line_error(capsys.readouterr().err, "must be a folder")


def test_interrupted_extend_leaves_nothing_and_reruns(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    """The checkpoint is built in a staging folder and renamed into place: a crash mid-copy leaves no output."""
    import longeval.commands.extend as extend_command

    out = tmp_path / "ext"
    real_link = extend_command._link_or_copy

    def interrupted(source: Path, target: Path) -> bool:
        real_link(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(extend_command, "_link_or_copy", interrupted)
    assert main(["extend", str(tiny_model), "--method", "pi:factor=2", "--out", str(out)]) == 130
    assert not out.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(extend_command, "_link_or_copy", real_link)
    assert extend(tiny_model, out, "pi:factor=2") == 0
    assert json.loads((out / "config.json").read_text())["longeval_method"]["name"] == "pi"
    reference = tmp_path / "plain"
    reference.mkdir()
    assert (out.stat().st_mode & 0o777) == (reference.stat().st_mode & 0o777)  # not mkdtemp's private 0700


def test_output_where_nothing_can_be_written_is_one_line(tiny_model: Path, tmp_path: Path, capsys) -> None:
    """/proc takes no new folders (as a read-only mount or a folder without permission would not)."""
    assert extend(tiny_model, "/proc/longeval-x", "yarn") == 2
    err = capsys.readouterr().err
    assert "cannot write here" in err and "/proc/longeval-x" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_fresh_tiny_model_and_its_extension_are_readable_by_others(tmp_path: Path) -> None:
    """The tiny-model cache and the checkpoint extend writes (weights hard-linked) get 0755 folders and 0644
    files under umask 022, not mkdtemp's 0700 or safetensors' 0600."""
    import os
    import stat

    from longeval.tinymodel import build_tiny_model

    old = os.umask(0o022)
    try:
        model = build_tiny_model(tmp_path / "cache" / "tiny", preset="tiny", seed=0)
        assert extend(model, tmp_path / "ext", "yarn:factor=2") == 0
    finally:
        os.umask(old)
    for folder in (model, tmp_path / "ext"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
        for path in folder.rglob("*"):
            assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path
