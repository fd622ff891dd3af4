"""results/ is a living leaderboard: the committed files equal a regeneration by scripts/results.py, and its
measured rows equal the official result.json of each prediction set (an oracle independent of the report code)."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import REAL_PRED_MODELS, unpack_real_preds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PAPER12 = ["narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "gov_report", "qmsum",
           "multi_news", "trec", "triviaqa", "samsum"]


def _script():
    spec = importlib.util.spec_from_file_location("results_script", ROOT / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    script = _script()
    out = tmp_path_factory.mktemp("regenerated")
    script.regenerate(out)
    return script, out


def test_committed_leaderboard_equals_a_regeneration(regenerated):
    script, fresh = regenerated
    assert script.differences(RESULTS, fresh) == [], "run: python scripts/results.py"


def test_a_changed_committed_file_is_caught(regenerated, tmp_path):
    script, fresh = regenerated
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy)
    table = copy / "leaderboard.csv"
    table.write_text(table.read_text(encoding="utf-8").replace("68.0,", "68.5,", 1), encoding="utf-8")
    page = copy / "leaderboard.html"
    page.write_text(page.read_text(encoding="utf-8").replace("llama3-8b", "llama3-8B", 1), encoding="utf-8")
    (copy / "macro_vs_length.png").write_bytes(b"not a png")
    size = script.png_size((fresh / "macro_vs_length.png").read_bytes())
    assert script.differences(copy, fresh) == [
        f"{table}: differs from a regeneration", f"{page}: differs from a regeneration",
        f"{copy / 'macro_vs_length.png'}: not a valid PNG of the regenerated size {size}"]


@pytest.mark.fidelity
def test_measured_rows_are_the_official_scores(tmp_path):
    official = unpack_real_preds(tmp_path)
    rows = {row["run"]: row for row in csv.DictReader((RESULTS / "leaderboard.csv").open(encoding="utf-8"))}
    for model in REAL_PRED_MODELS:
        scores = json.loads((official / model / "result.json").read_text(encoding="utf-8"))
        assert {task: float(rows[model][task]) for task in PAPER12} == {task: scores[task] for task in PAPER12}
        assert float(rows[model]["macro"]) == pytest.approx(sum(scores[t] for t in PAPER12) / 12, abs=1e-9)


def test_readme_says_what_every_row_is():
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    runs = [row["run"] for row in csv.DictReader((RESULTS / "leaderboard.csv").open(encoding="utf-8"))]
    assert all(f"`{run}`" in readme for run in runs if not run.startswith("paper "))
    assert "`paper T2: …`" in readme and "`paper T4: …`" in readme
    assert {p.name for p in RESULTS.iterdir()} == {"README.md", "leaderboard.md", "leaderboard.csv",
                                                   "leaderboard.html", "macro_vs_length.png",
                                                   "delta_to_baseline.png", "smollm2"}


# --- SmolLM2-135M-Instruct: context extension without fine-tuning (results/smollm2/) ------------------------------

SECTION = RESULTS / "smollm2"


def _passkey_hits() -> dict[str, dict[str, float]]:
    """method -> {record id: 1.0 when the prediction's first number is the key}, from the committed lines."""
    hits: dict[str, dict[str, float]] = {}
    for run_json in sorted((SECTION / "runs").glob("*/run.json")):
        info = json.loads(run_json.read_text(encoding="utf-8"))
        if info["status"] != "complete":
            continue
        for pred in sorted((run_json.parent / "pred").glob("passkey*.jsonl")):
            for line in pred.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                number = re.search(r"\d+", record["pred"])
                hits.setdefault(info["method"]["name"], {})[record["_id"]] = \
                    float(number is not None and number[0] == record["answers"][0])
    return hits


def _passkey_oracle() -> dict[tuple[str, int], float]:
    """Passkey accuracy per (method, prompt tokens) straight from the committed prediction lines, independent of
    the report code."""
    cells: dict[tuple[str, int], list[float]] = {}
    for method, hits in _passkey_hits().items():
        for record_id, hit in hits.items():
            tokens = int(re.fullmatch(r"passkey-(\d+)-d\d+-r\d+", record_id)[1])
            cells.setdefault((method, tokens), []).append(hit)
    return {cell: 100 * sum(v) / len(v) for cell, v in cells.items()}


def test_smollm2_section_scores_are_the_predictions():
    oracle = _passkey_oracle()
    assert oracle, "results/smollm2/runs holds no passkey predictions"
    rows = [row for row in csv.DictReader((SECTION / "scores.csv").open(encoding="utf-8"))
            if row["benchmark"] == "passkey"]
    assert {(row["method"], int(row["length"])): float(row["score"]) for row in rows} == \
        {cell: pytest.approx(score, abs=0.005) for cell, score in oracle.items()}
    for row in rows:  # the interval (Wilson: always given) holds the score, within [0, 100]
        assert 0 <= float(row["ci_low"]) <= float(row["score"]) <= float(row["ci_high"]) <= 100


def test_smollm2_run_folders_agree_with_their_result_json():
    """result.json, written by the run, equals the per-length-pooled oracle: the run scored what it predicted."""
    for run_json in sorted((SECTION / "runs").glob("*/run.json")):
        if json.loads(run_json.read_text(encoding="utf-8"))["status"] != "complete":
            continue  # a run under way (never committed so)
        result = json.loads((run_json.parent / "pred" / "result.json").read_text(encoding="utf-8"))
        for pred in (run_json.parent / "pred").glob("passkey*.jsonl"):
            lines = [json.loads(line) for line in pred.read_text(encoding="utf-8").splitlines()]
            hits = [re.search(r"\d+", x["pred"]) is not None and re.search(r"\d+", x["pred"])[0] == x["answers"][0]
                    for x in lines]
            assert result[pred.stem] == pytest.approx(round(100 * sum(hits) / len(hits), 2), abs=0.005)


def test_a_changed_prediction_changes_the_section(tmp_path, monkeypatch):
    """A flipped prediction in a copy of the run folders makes the regenerated tables differ from results/."""
    script = _script()
    runs = tmp_path / "runs"
    shutil.copytree(SECTION / "runs", runs)
    pred = sorted(runs.glob("passkey_none/pred/passkey*.jsonl"))[0]
    lines = [json.loads(line) for line in pred.read_text(encoding="utf-8").splitlines()]
    right = lines[0]["pred"].find(lines[0]["answers"][0]) >= 0
    lines[0]["pred"] = "00000" if right else lines[0]["answers"][0]
    pred.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    monkeypatch.setattr(script, "SMOLLM2_RUNS", runs)
    out = tmp_path / "out"
    script.regenerate_section(out)
    found = script.differences(RESULTS, out)
    assert f"{SECTION / 'scores.csv'}: differs from a regeneration" in found


def test_effective_length_is_the_last_length_before_the_first_drop():
    script = _script()
    assert script.effective_length({2000: 100.0, 4000: 90.0, 8000: 40.0, 16000: 95.0}, 85.6) == 4000
    assert script.effective_length({2000: 80.0, 4000: 90.0}, 85.6) is None
    assert script.effective_length({2000: 85.6, 4000: 85.6}, 85.6) == 4000


def test_results_readme_states_the_smollm2_section():
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    methods = {row["method"] for row in csv.DictReader((SECTION / "scores.csv").open(encoding="utf-8"))}
    assert "SmolLM2-135M-Instruct: context extension without fine-tuning" in readme
    assert all(f"`{method}`" in readme for method in methods)
    assert "scripts/smollm2-runs.sh" in readme and "python scripts/results.py" in readme


def test_smollm2_perplexities_are_the_ledgers():
    """ppl.csv holds, per method and length, the perplexity `longeval ppl` computed when it measured the cell."""
    ledger = SECTION / "ppl" / "ppl.json"
    if not ledger.is_file():
        assert not (SECTION / "ppl.csv").exists()
        return
    cells = {(c["method"].split(":")[0], c["length"]): c for c in json.loads(ledger.read_text())["cells"]}
    rows = list(csv.DictReader((SECTION / "ppl.csv").open(encoding="utf-8")))
    assert {(row["method"], int(row["length"])) for row in rows} == set(cells)
    for row in rows:
        cell = cells[(row["method"], int(row["length"]))]
        assert float(row["ppl"]) == pytest.approx(cell["ppl"], rel=1e-4)
        assert int(row["documents"]) == cell["documents"] >= 1


def test_smollm2_ruler_scores_are_the_predictions():
    """RULER cells from the committed prediction lines with RULER's string_match_all (each reference found in the
    prediction, case-insensitively; the record's score is the share found), averaged over the cell's tasks."""
    tasks: dict[tuple[str, int], dict[str, list[float]]] = {}
    for run_json in sorted((SECTION / "runs").glob("ruler_*/run.json")):
        info = json.loads(run_json.read_text(encoding="utf-8"))
        if info["status"] != "complete":
            continue
        for pred in sorted((run_json.parent / "pred").glob("ruler_*.jsonl")):
            for line in pred.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                found = [ref.lower() in record["pred"].lower() for ref in record["outputs"]]
                tasks.setdefault((info["method"]["name"], info["max_length"]), {}).setdefault(pred.stem, []).append(
                    sum(found) / len(found))
    oracle = {cell: 100 * sum(sum(v) / len(v) for v in by_task.values()) / len(by_task)
              for cell, by_task in tasks.items()}
    rows = [row for row in csv.DictReader((SECTION / "scores.csv").open(encoding="utf-8"))
            if row["benchmark"] == "RULER"]
    assert {(row["method"], int(row["length"])): float(row["score"]) for row in rows} == \
        {cell: pytest.approx(score, abs=0.005) for cell, score in oracle.items()}


def test_pooled_passkey_comparisons_are_exact_mcnemar_on_the_predictions():
    """compare.csv's pooled rows (inside / past the 8k window) against an independent oracle: records paired by id
    from the prediction lines, delta = difference of accuracies, p = scipy's exact two-sided binomial test on the
    discordant pairs (McNemar's exact test)."""
    from scipy.stats import binomtest

    hits = _passkey_hits()
    rows = [row for row in csv.DictReader((SECTION / "compare.csv").open(encoding="utf-8"))
            if row["benchmark"] == "passkey" and row["length"] in ("inside", "past")]
    assert rows, "compare.csv has no pooled passkey rows"
    for row in rows:
        base, candidate = hits[row["base"]], hits[row["candidate"]]
        inside = row["length"] == "inside"
        ids = [i for i in set(base) & set(candidate)
               if (int(re.fullmatch(r"passkey-(\d+)-.*", i)[1]) <= 8192) == inside]
        assert int(row["records"]) == len(ids)
        delta = 100 * sum(candidate[i] - base[i] for i in ids) / len(ids)
        assert float(row["delta"]) == pytest.approx(delta, abs=0.005)
        wins = sum(candidate[i] > base[i] for i in ids)
        losses = sum(candidate[i] < base[i] for i in ids)
        expected = binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
        assert float(row["p"]) == pytest.approx(expected, rel=1e-3)
        assert float(row["p"]) <= float(row["p_holm"]) <= 1
