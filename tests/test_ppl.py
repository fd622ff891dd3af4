"""`longeval ppl`: perplexities equal an independent transformers computation (full forward, float64 log-softmax by
hand) on the tiny model for none, yarn and eabf (the eager attention path with the query scale computed here), at
lengths inside and past its 256-position window; vLLM's prompt logprobs equal transformers'; the strided variant
equals a hand computation; bad input is one line and exit 2; a re-run skips finished cells.

The argument and file tests run in the fast lane; those that tokenize or run an engine are marked slow/vllm.
"""

from __future__ import annotations

import importlib.util
import json
import math
import zipfile
from pathlib import Path

import pytest
from helpers import assert_exit_2_one_line, vllm_cache_root

from longeval.analysis.ppl_text import read_documents, windows
from longeval.errors import UserError

ORIGINAL_MAX = 256  # the tiny model's window
LENGTHS = (128, 400)  # inside and past it
SAMPLES = 2
STRIDE = 48
METHODS = ("none", "yarn:factor=4", "eabf")
SENTENCE = ("The committee met on Tuesday to discuss the annual report on public transport. Members asked why the "
            "new bus lines were late, and the director answered that the budget had been cut twice. ")
needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")


def write_corpus(folder: Path) -> Path:
    """A .jsonl corpus: a short document, a middling one, two long ones (lengths in tokens checked by the tests)."""
    texts = [SENTENCE * 1, "Numbers: " + " ".join(str(i) for i in range(90)) + ". " + SENTENCE * 2,
             SENTENCE * 12 + "The end.", "Another story begins. " + SENTENCE * 15 + " " + "x y z " * 30]
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    return path


# ------------------------------------------------------------------------------------------ no engine needed

def test_windows_without_stride_take_the_first_length_tokens() -> None:
    assert windows(1000, 128, None) == [(0, 128, 1)]


def test_strided_windows_predict_every_token_once_from_windows_of_the_length() -> None:
    # 10 tokens, windows of 4 every 2: [0,4) scores 1..3, [2,6) scores 4..5, [4,8) scores 6..7, [6,10) 8..9.
    assert windows(10, 4, 2) == [(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    # The last window is cut at the document's end; a stride equal to the length gives disjoint windows.
    assert windows(9, 4, 3) == [(0, 4, 1), (3, 7, 4), (6, 9, 7)]
    assert windows(8, 4, 4) == [(0, 4, 1), (4, 8, 4)]
    for tokens, length, stride in ((10, 4, 2), (9, 4, 3), (1000, 128, 48), (130, 128, 1)):
        scored = [t for start, end, first in windows(tokens, length, stride) for t in range(first, end)]
        assert scored == list(range(1, tokens))
        assert all(end - start <= length for start, end, _ in windows(tokens, length, stride))


def test_documents_from_text_jsonl_folder_and_zip(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("second file")
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"context": "two", "x": 1}\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jsonl").write_text('{"context": "three", "text": "three as text"}\n')
    (tmp_path / "skip.md").write_text("not read")
    assert read_documents(str(tmp_path)).texts == ["one", "two", "second file", "three as text"]
    assert read_documents(str(tmp_path / "b.txt")).texts == ["second file"]
    assert read_documents(str(tmp_path / "sub" / "c.jsonl"), "context").texts == ["three"]
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/qasper.jsonl", '{"context": "q1", "input": "?"}\n{"context": "q2"}\n')
        handle.writestr("data/hotpotqa.jsonl", '{"context": "h1"}\n')
    assert read_documents(str(archive)).texts == ["h1", "q1", "q2"]
    # The checksum follows the text, not the file names.
    assert read_documents(str(tmp_path / "b.txt")).sha256 != read_documents(str(archive)).sha256
    (tmp_path / "b2.txt").write_text("second file")
    assert read_documents(str(tmp_path / "b2.txt")).sha256 == read_documents(str(tmp_path / "b.txt")).sha256


def test_bad_text_sources_are_located_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "x.jsonl").write_text('{"text": "ok"}\n{"body": "no text"}\n')
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    (tmp_path / "num.jsonl").write_text('{"text": 3}\n')
    (tmp_path / "nothing").mkdir()
    cases = [(tmp_path / "empty.txt", None, "empty"), (tmp_path / "x.jsonl", None, "x.jsonl:2 field 'text'"),
             (tmp_path / "x.jsonl", "body", "x.jsonl:1 field 'body'"), (tmp_path / "bad.jsonl", None, "bad.jsonl:2"),
             (tmp_path / "num.jsonl", None, "num.jsonl:1 field 'text'"), (tmp_path / "nothing", None, "no .txt"),
             (tmp_path / "missing.txt", None, "no such file")]
    for path, field, needle in cases:
        with pytest.raises(UserError) as caught:
            read_documents(str(path), field)
        assert needle in str(caught.value), (path, str(caught.value))


@pytest.mark.parametrize(("extra", "needle"), [
    (["--lengths", "128,abc"], "--lengths"), (["--lengths", "1"], "--lengths"), (["--lengths", ""], "--lengths"),
    (["--samples", "0"], "--samples"), (["--stride", "200"], "--stride"), (["--stride", "0"], "--stride"),
    (["--dtype", "float8"], "unknown dtype"), (["--backend", "vllm", "--dtype", "float64"], "float64"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, tmp_path: Path, extra, needle) -> None:
    argv = ["ppl", "--model", str(tmp_path / "model"), "--text", str(tmp_path / "t.txt"), "--lengths", "128,256",
            "--out", str(tmp_path / "out")]
    assert_exit_2_one_line(capsys, argv + extra, needle)
    assert not (tmp_path / "out").exists()


def test_empty_text_and_unknown_field_exit_2_before_the_model_is_read(capsys, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    corpus = write_corpus(tmp_path)
    base = ["ppl", "--model", str(tmp_path / "no-model"), "--lengths", "128", "--out", str(tmp_path / "out")]
    assert_exit_2_one_line(capsys, [*base, "--text", str(tmp_path / "empty.txt")], "empty.txt", "empty")
    assert_exit_2_one_line(capsys, [*base, "--text", str(corpus), "--field", "body"], "corpus.jsonl:1",
                           "field 'body'")


def test_a_folder_of_other_settings_is_refused_and_finished_cells_are_known(tmp_path: Path) -> None:
    from longeval.analysis.ppl_output import PplFolder

    identity = {"model": {"config_sha256": "a", "weights_sha256": "b"}, "text_sha256": "t", "samples": 2,
                "stride": None, "backend": "hf", "dtype": "auto"}
    folder = PplFolder(tmp_path, identity)
    cell = {"method": "none", "length": 128, "documents": 2, "tokens": 254, "nll": 254.0, "ppl": math.e}
    folder.add(cell, {}, {"name": "none", "params": {}})
    with pytest.raises(UserError, match="another `longeval ppl`"):
        PplFolder(tmp_path, identity)  # the folder is held
    folder.close()
    again = PplFolder(tmp_path, identity)
    assert again.done("none", 128) == cell and again.done("none", 400) is None
    again.close()
    assert (tmp_path / "ppl.csv").read_text().splitlines() == ["method,length,documents,tokens,nll,ppl",
                                                              f"none,128,2,254,254.0,{math.e!r}"]
    for change, words in (({"text_sha256": "u"}, "other text"), ({"samples": 3}, "--samples (2, now 3)"),
                          ({"model": {"config_sha256": "a", "weights_sha256": "c"}}, "another model")):
        with pytest.raises(UserError) as caught:
            PplFolder(tmp_path, {**identity, **change})
        assert words in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------ the oracle

def _eabf_eager(module, query, key, value, attention_mask, **kwargs):
    """EABF written out here: t(p) = max(1, ln(p+1)/ln L0) times the post-RoPE query in layers >= 2, then the
    model's eager attention."""
    import torch
    from transformers.models.llama.modeling_llama import eager_attention_forward

    if module.layer_idx >= 2:
        positions = kwargs["position_ids"][0].tolist()
        factors = torch.tensor([max(1.0, math.log(p + 1) / math.log(ORIGINAL_MAX)) for p in positions],
                               dtype=torch.float64)
        query = query * factors.to(query.dtype)[None, None, :, None]
    return eager_attention_forward(module, query, key, value, attention_mask, **kwargs)


def oracle_model(tiny_model: Path, spec: str):
    """The tiny model in plain transformers with the method's RoPE written by hand (eager attention)."""
    import torch
    from transformers import AttentionInterface, AutoConfig, AutoModelForCausalLM
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    config = AutoConfig.from_pretrained(str(tiny_model))
    attention = "eager"
    if spec.startswith("yarn"):
        config.rope_parameters = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                  "original_max_position_embeddings": ORIGINAL_MAX, "beta_fast": 32.0,
                                  "beta_slow": 1.0, "attention_factor": 0.1 * math.log(4.0) + 1.0}
        config.max_position_embeddings = 4 * ORIGINAL_MAX
    elif spec == "eabf":
        config.rope_parameters = {"rope_type": "default", "rope_theta": 500000.0}
        AttentionInterface.register("test_eabf_eager", _eabf_eager)
        AttentionMaskInterface.register("test_eabf_eager", eager_mask)
        attention = "test_eabf_eager"
    return AutoModelForCausalLM.from_pretrained(str(tiny_model), config=config, dtype=torch.float32,
                                                attn_implementation=attention).eval()


def oracle_nll(model, ids: list[int], first: int) -> float:
    """NLL of ids[first:] from one full forward: log-softmax by hand in float64 (max + log sum exp)."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    total = 0.0
    for position in range(first - 1, len(ids) - 1):
        row = logits[position]
        top = float(row.max())
        log_z = top + math.log(float(torch.exp(row - top).sum()))
        total += log_z - float(row[ids[position + 1]])
    return total


def documents_for(tokenizer, corpus: Path, length: int) -> tuple[list[list[int]], int]:
    """The protocol read off by hand: the first SAMPLES documents with >= length tokens, and how many were
    skipped before the last one was taken."""
    taken, skipped = [], 0
    for line in corpus.read_text().splitlines():
        ids = tokenizer(json.loads(line)["text"])["input_ids"]
        if len(taken) == SAMPLES:
            break
        if len(ids) >= length:
            taken.append(ids)
        else:
            skipped += 1
    return taken, skipped


def cells(out: Path) -> dict[tuple[str, int], dict]:
    doc = json.loads((out / "ppl.json").read_text())
    return {(c["method"], c["length"]): c for c in doc["cells"]}


def run_ppl(tiny_model: Path, corpus: Path, out: Path, *extra: str) -> None:
    from longeval.cli import main

    argv = ["ppl", "--model", str(tiny_model), "--text", str(corpus), "--lengths", ",".join(map(str, LENGTHS)),
            "--samples", str(SAMPLES), "--out", str(out), "--no-progress", "--dtype", "float32"]
    for spec in METHODS:
        argv += ["--method", spec]
    assert main(argv + list(extra)) == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("ppl-text"))


@pytest.fixture(scope="module")
def hf_out(tiny_model: Path, corpus: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ppl-hf")
    run_ppl(tiny_model, corpus, out, "--backend", "hf", "--chunk-mb", "1")  # 1 MiB: 85 positions per chunk
    return out


@pytest.fixture(scope="module")
def hf_strided_out(tiny_model: Path, corpus: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ppl-hf-stride")
    run_ppl(tiny_model, corpus, out, "--backend", "hf", "--stride", str(STRIDE))
    return out


vllm_env = pytest.fixture(scope="module")(vllm_cache_root)


@pytest.fixture(scope="module")
def vllm_out(tiny_model: Path, corpus: Path, tmp_path_factory, vllm_env) -> Path:
    out = tmp_path_factory.mktemp("ppl-vllm")
    run_ppl(tiny_model, corpus, out, "--backend", "vllm", "--stride", str(STRIDE))
    return out


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    from longeval.prompts import load_tokenizer

    return load_tokenizer(str(tiny_model))


# ------------------------------------------------------------------------------------------ engines

@pytest.mark.slow
@pytest.mark.parametrize("spec", METHODS)
def test_transformers_perplexity_equals_an_independent_full_forward(spec, tiny_model, corpus, hf_out, tokenizer):
    model = oracle_model(tiny_model, spec)
    got = cells(hf_out)
    for length in LENGTHS:
        documents, skipped = documents_for(tokenizer, corpus, length)
        assert len(documents) == SAMPLES and skipped >= 1  # the corpus exercises skipping at both lengths
        nll = sum(oracle_nll(model, ids[:length], 1) for ids in documents)
        cell = got[(parse(spec), length)]
        assert (cell["documents"], cell["skipped_documents"], cell["tokens"]) == (SAMPLES, skipped,
                                                                                  SAMPLES * (length - 1))
        assert cell["nll"] == pytest.approx(nll, rel=1e-5)
        assert cell["ppl"] == pytest.approx(math.exp(nll / (SAMPLES * (length - 1))), rel=1e-5)
    # Not vacuous: past the window every method gives its own number.
    assert len({round(c["nll"], 3) for (_, n), c in got.items() if n == LENGTHS[-1]}) == len(METHODS)


def parse(spec: str) -> str:
    from longeval.methods import parse_method

    return parse_method(spec).spec


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["none", "eabf"])
def test_strided_perplexity_equals_a_hand_computation(spec, tiny_model, corpus, hf_strided_out, tokenizer):
    """Windows of L tokens every STRIDE tokens over each whole document, scored by the oracle one by one."""
    model = oracle_model(tiny_model, spec)
    got = cells(hf_strided_out)
    for length in LENGTHS:
        documents, _ = documents_for(tokenizer, corpus, length)
        nll, tokens = 0.0, 0
        for ids in documents:
            start, scored_to = 0, 1
            while scored_to < len(ids):
                end = min(start + length, len(ids))
                nll += oracle_nll(model, ids[start:end], scored_to - start)
                tokens += end - scored_to
                scored_to, start = end, start + STRIDE
        cell = got[(parse(spec), length)]
        assert cell["tokens"] == tokens == sum(len(ids) - 1 for ids in documents)
        assert cell["nll"] == pytest.approx(nll, rel=1e-5)
        if length == LENGTHS[0]:  # not vacuous: documents longer than the length are read past it
            assert tokens > SAMPLES * (length - 1)


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_vllm_prompt_logprobs_equal_transformers(vllm_out, hf_strided_out):
    hf, vllm = cells(hf_strided_out), cells(vllm_out)
    assert hf.keys() == vllm.keys() and len(hf) == len(METHODS) * len(LENGTHS)
    for key, cell in hf.items():
        assert vllm[key]["tokens"] == cell["tokens"]
        assert vllm[key]["nll"] == pytest.approx(cell["nll"], rel=2e-5), key


@pytest.mark.slow
def test_outputs_resume_and_refusals(tiny_model, corpus, hf_out, capsys, tmp_path):
    rows = (hf_out / "ppl.csv").read_text().splitlines()
    assert rows[0] == "method,length,documents,tokens,nll,ppl" and len(rows) == 1 + len(METHODS) * len(LENGTHS)
    assert [r.split(",")[0] for r in rows[1::2]] == [parse(s) for s in METHODS]
    assert (hf_out / "ppl_vs_length.png").stat().st_size > 10_000
    doc = json.loads((hf_out / "ppl.json").read_text())
    assert doc["methods"][parse("yarn:factor=4")] == {"name": "yarn", "params": {"factor": 4.0, "beta_fast": 32.0,
                                                                          "beta_slow": 1.0, "attention_factor": None}}
    assert doc["model"]["name"] == tiny_model.name and doc["text"]["documents"] == 4
    assert all(c["versions"]["transformers"] for c in doc["cells"])
    ledger = (hf_out / "ppl.json").read_bytes()
    capsys.readouterr()
    # --dtype auto is float32 on this CPU: the same setting, so the same folder.
    run_ppl(tiny_model, corpus, hf_out, "--backend", "hf", "--chunk-mb", "1", "--dtype", "auto")
    err = capsys.readouterr().err
    assert err.count("finished earlier, skipped") == len(METHODS) * len(LENGTHS)
    assert (hf_out / "ppl.json").read_bytes() == ledger  # nothing measured again
    # Other text into the same folder: refused in one line.
    other = tmp_path / "other.txt"
    other.write_text(SENTENCE * 30)
    assert_exit_2_one_line(capsys, ["ppl", "--model", str(tiny_model), "--text", str(other), "--lengths", "128",
                                    "--samples", str(SAMPLES), "--out", str(hf_out), "--dtype", "float32"],
                           "other text")
    # A length no document reaches.
    assert_exit_2_one_line(capsys, ["ppl", "--model", str(tiny_model), "--text", str(corpus), "--lengths", "128,9000",
                                    "--out", str(tmp_path / "o")], "9000 tokens or more", "corpus.jsonl")
