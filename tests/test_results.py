"""results/ is a living leaderboard: the committed files equal a regeneration by scripts/results.py, and its
measured rows equal the official result.json of each prediction set (an oracle independent of the report code)."""

from __future__ import annotations

import csv
import importlib.util
import json
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
                                                   "delta_to_baseline.png"}
