"""`longeval compare` on real official prediction folders (tests/fixtures/real-preds): the official scores it
reports equal each folder's result.json (written by the official eval.py), its intervals hold its deltas, and
records pair by _id or, without one, by position only when the answers agree line by line."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_exit_2_one_line, unpack_real_preds
from scipy import stats as sps

from longeval.cli import main
from longeval.report.records import read_run

# Cheap tasks covering every LongBench v1 metric family but the Chinese tokenizer (jieba's start-up takes seconds):
# classification (trec, lsht), qa_f1 (triviaqa, qasper), count, retrieval, code_sim (lcc), rouge (samsum).
TASKS = ["trec", "triviaqa", "qasper", "passage_count", "passage_retrieval_en", "lcc", "samsum", "lsht"]
TASK_FIELDS = {"n", "base", "candidate", "delta", "ci_low", "ci_high", "p", "p_holm", "test", "wins", "losses", "mde"}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_real_preds(tmp_path_factory.mktemp("real"), ("llama3-8b", "llama3-8b-quest-128"))


@pytest.fixture(scope="module")
def compared(real: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", str(real / "llama3-8b"), str(real / "llama3-8b-quest-128"), "--tasks", ",".join(TASKS),
                 "--out", str(out)]) == 0
    return json.loads((out / "compare.json").read_text(encoding="utf-8")), str(out)


@pytest.mark.fidelity
def test_per_record_scores_average_to_the_official_result_json(real):
    for model in ("llama3-8b", "llama3-8b-quest-128"):
        run = read_run(real / model, TASKS)
        official = json.loads((real / model / "result.json").read_text(encoding="utf-8"))
        assert {key: entry.official for key, entry in run.entries.items()} == {t: official[t] for t in TASKS}
        for entry in run.entries.values():  # the unrounded mean rounds to the official score
            assert round(100 * sum(entry.scores) / len(entry.scores), 2) == official[entry.key]


@pytest.mark.fidelity
def test_compare_two_real_runs(compared, real):
    doc, out = compared
    assert set(doc) == {"base", "comparisons", "resamples", "seed", "alpha"}
    assert (doc["base"], doc["resamples"], doc["seed"], doc["alpha"]) == ("llama3-8b", 10_000, 0, 0.05)
    [comparison] = doc["comparisons"]
    assert set(comparison) == {"candidate", "tasks", "macro"}
    assert comparison["candidate"] == "llama3-8b-quest-128"
    base = json.loads((real / "llama3-8b" / "result.json").read_text(encoding="utf-8"))
    candidate = json.loads((real / "llama3-8b-quest-128" / "result.json").read_text(encoding="utf-8"))
    assert set(comparison["tasks"]) == set(TASKS)
    for task, row in comparison["tasks"].items():
        assert set(row) == TASK_FIELDS
        assert (row["base"], row["candidate"]) == (base[task], candidate[task])
        assert row["delta"] == pytest.approx(candidate[task] - base[task], abs=0.0101)  # each rounded to 0.01
        assert row["ci_low"] <= row["delta"] <= row["ci_high"]
        assert row["test"] == "sign-flip"  # LongBench v1 metrics are fractions per record
        assert row["p"] <= row["p_holm"] <= 1
        lines = (real / "llama3-8b" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
        assert row["wins"] + row["losses"] <= row["n"] == len(lines)
        assert row["mde"] > 0
    macro = comparison["macro"]
    assert macro["delta"] == pytest.approx(sum(r["delta"] for r in comparison["tasks"].values()) / len(TASKS))
    assert macro["ci_low"] <= macro["delta"] <= macro["ci_high"]
    for name in ("compare.md", "compare.csv", "compare.html"):
        assert (Path(out) / name).stat().st_size > 0
    markdown = (Path(out) / "compare.md").read_text(encoding="utf-8")
    assert "| TREC | 200 |" in markdown and "macro (8 tasks)" in markdown


def test_output_is_deterministic_for_a_seed(real, capsys):
    argv = ["compare", str(real / "llama3-8b"), str(real / "llama3-8b-quest-128"), "--tasks", "trec,lcc",
            "--resamples", "2000", "--format", "json", "--out", "-"]
    capsys.readouterr()
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first
    assert main([*argv, "--seed", "1"]) == 0
    reseeded = json.loads(capsys.readouterr().out)["comparisons"][0]["tasks"]["lcc"]
    assert (reseeded["ci_low"], reseeded["p"]) != (json.loads(first)["comparisons"][0]["tasks"]["lcc"]["ci_low"],
                                                   json.loads(first)["comparisons"][0]["tasks"]["lcc"]["p"])


def _copy(real: Path, model: str, dest: Path, tasks: list[str]) -> Path:
    dest.mkdir(parents=True)
    for task in tasks:
        shutil.copy(real / model / f"{task}.jsonl", dest / f"{task}.jsonl")
    return dest


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_refuses_what_cannot_be_paired(real, tmp_path, capsys):
    base = _copy(real, "llama3-8b", tmp_path / "base", ["trec"])
    shorter = _copy(real, "llama3-8b-quest-128", tmp_path / "shorter", ["trec"])
    (shorter / "trec.jsonl").write_text("".join(_lines(shorter / "trec.jsonl")[:-1]), encoding="utf-8")
    assert_exit_2_one_line(capsys, ["compare", str(base), str(shorter), "--out", str(tmp_path / "o")],
                           "trec", "200 vs 199", "no _id")
    swapped = _copy(real, "llama3-8b-quest-128", tmp_path / "swapped", ["trec"])
    lines = _lines(swapped / "trec.jsonl")
    lines[4], lines[5] = lines[5], lines[4]
    (swapped / "trec.jsonl").write_text("".join(lines), encoding="utf-8")
    assert_exit_2_one_line(capsys, ["compare", str(base), str(swapped), "--out", str(tmp_path / "o")],
                           "trec.jsonl:5", "answers differ")
    assert_exit_2_one_line(capsys, ["compare", str(base), str(tmp_path / "nowhere")], "nowhere")
    assert_exit_2_one_line(capsys, ["compare", str(base), str(base), "--format", "pdf"], "--format", "pdf")
    assert not (tmp_path / "o").exists()


def _passkey_folder(folder: Path, hits: list[int], order: list[int], extra_id: bool = False) -> Path:
    """A passkey prediction file with _id on every line (as a longeval run writes it), lines in `order`."""
    folder.mkdir(parents=True)
    lines = []
    for i in order:
        key = str(10000 + i)
        lines.append({"pred": f"The pass key is {key if hits[i] else '0'}.", "answers": [key], "all_classes": None,
                      "length": 500, "_id": f"passkey-1000-d{i % 5}-r{i}"})
    if extra_id:
        lines[0]["_id"] = "passkey-1000-d9-r999"
    (folder / "passkey.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return folder


def test_passkey_pairs_by_id_and_uses_exact_mcnemar(tmp_path, capsys):
    rng = random.Random(5)
    n = 60
    base_hits = [rng.random() < 0.5 for _ in range(n)]
    cand_hits = [hit if rng.random() < 0.6 else not hit for hit in base_hits]
    shuffled = list(range(n))
    rng.shuffle(shuffled)
    base = _passkey_folder(tmp_path / "base", base_hits, list(range(n)))
    candidate = _passkey_folder(tmp_path / "cand", cand_hits, shuffled)  # other line order: paired by _id
    capsys.readouterr()
    assert main(["compare", str(base), str(candidate), "--format", "json", "--out", "-"]) == 0
    row = json.loads(capsys.readouterr().out)["comparisons"][0]["tasks"]["passkey"]
    wins = sum(c and not b for b, c in zip(base_hits, cand_hits, strict=True))
    losses = sum(b and not c for b, c in zip(base_hits, cand_hits, strict=True))
    assert (row["test"], row["wins"], row["losses"], row["n"]) == ("mcnemar", wins, losses, n)
    assert row["p"] == pytest.approx(sps.binomtest(wins, wins + losses, 0.5).pvalue, rel=1e-12)
    assert row["delta"] == pytest.approx(100 * (sum(cand_hits) - sum(base_hits)) / n)
    other = _passkey_folder(tmp_path / "other", cand_hits, list(range(n)), extra_id=True)
    assert_exit_2_one_line(capsys, ["compare", str(base), str(other), "--out", "-", "--format", "json"],
                           "passkey", "other records", "1 _id(s) only in the first")


def test_longbench_e_folders_compare_per_length_bucket(real, tmp_path, capsys):
    base = _copy(real, "llama3-8b", tmp_path / "base-e", ["trec"])
    candidate = _copy(real, "llama3-8b-quest-128", tmp_path / "cand-e", ["trec"])
    assert main(["score", "--e", str(base), str(candidate)]) == 0  # result.json by length bucket
    capsys.readouterr()
    assert main(["compare", str(base), str(candidate), "--format", "json", "--out", "-", "--resamples", "1000"]) == 0
    tasks = json.loads(capsys.readouterr().out)["comparisons"][0]["tasks"]
    scored = json.loads((base / "result.json").read_text(encoding="utf-8"))["trec"]
    expected = {f"trec[{bucket}]": value for bucket, value in scored.items() if value == value}  # NaN: no records
    assert {key: row["base"] for key, row in tasks.items()} == expected
    assert sum(row["n"] for row in tasks.values()) == 200


def test_several_candidates_and_a_stale_result_json(real, tmp_path, capsys):
    base = _copy(real, "llama3-8b", tmp_path / "a", ["trec", "lcc"])
    one = _copy(real, "llama3-8b-quest-128", tmp_path / "b", ["trec", "lcc"])
    two = _copy(real, "llama3-8b-quest-128", tmp_path / "c", ["trec"])
    (two / "result.json").write_text('{"trec": 12.5}', encoding="utf-8")
    capsys.readouterr()
    assert main(["compare", str(base), str(one), str(two), "--format", "json", "--out", "-",
                 "--resamples", "500"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [c["candidate"] for c in doc["comparisons"]] == ["b", "c"]
    assert list(doc["comparisons"][0]["tasks"]) == ["trec", "lcc"] and list(doc["comparisons"][1]["tasks"]) == ["trec"]
    assert "trec is 12.5 there" in captured.err
    assert "not in both 'a' and 'c', not compared: lcc" in captured.err
    # one task alone: Holm leaves its p unchanged
    row = doc["comparisons"][1]["tasks"]["trec"]
    assert row["p_holm"] == row["p"]


# --- check --significance --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gate_runs(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real runs on trec (llama3-8b 71.00 -> llama2-7b 68.00: a 3-point drop, p_holm far above 0.05) and lsht
    (35.00 -> 18.25: a drop a paired test confirms), each scored with `longeval score` (result.json)."""
    more = unpack_real_preds(tmp_path_factory.mktemp("more"), ("llama2-7b",))
    root = tmp_path_factory.mktemp("gate")
    runs = {}
    for name, source in (("before", real / "llama3-8b"), ("after", more / "llama2-7b")):
        for subset, tasks in (("trec", ["trec"]), ("both", ["trec", "lsht"])):
            folder = _copy(source.parent, source.name, root / f"{name}-{subset}", tasks)
            assert main(["score", str(folder)]) == 0
            runs[f"{name}-{subset}"] = folder
    return runs


def test_significance_lets_a_noisy_drop_pass_and_says_so(gate_runs, capsys):
    argv = ["check", str(gate_runs["after-trec"]), "--baseline", str(gate_runs["before-trec"]), "--max-drop", "1",
            "--max-task-drop", "2"]
    capsys.readouterr()
    assert main(argv) == 1  # without the flag: today's gate, a 3-point drop fails
    assert main([*argv, "--significance", "0.05"]) == 0
    summary = capsys.readouterr().out
    assert "### longeval check: PASS" in summary
    assert "Ignored as noise (dropped beyond the allowance, not significant): TREC, macro." in summary
    assert "| TREC | 71.00 | 68.00 | -3.00 | [" in summary and "| noise |" in summary


def test_significance_fails_a_real_drop_and_names_the_noise(gate_runs, capsys):
    argv = ["check", str(gate_runs["after-both"]), "--baseline", str(gate_runs["before-both"]), "--max-drop", "1",
            "--max-task-drop", "2", "--significance", "0.05"]
    capsys.readouterr()
    assert main(argv) == 1
    summary = capsys.readouterr().out
    assert "### longeval check: FAIL" in summary
    assert "1 task(s) dropped more than 2 points: lsht" in summary
    assert "macro dropped" in summary  # (-3 - 16.75) / 2: confirmed by the stratified test
    assert "Ignored as noise (dropped beyond the allowance, not significant): TREC." in summary


def test_significance_refuses_a_baseline_without_records(gate_runs, tmp_path, capsys):
    plain = tmp_path / "scores-only"
    plain.mkdir()
    shutil.copy(gate_runs["before-trec"] / "result.json", plain / "result.json")
    argv = ["check", str(gate_runs["after-trec"]), "--baseline", str(plain), "--max-task-drop", "2"]
    capsys.readouterr()
    assert main(argv) == 1  # without the flag the scores alone gate as before
    assert_exit_2_one_line(capsys, [*argv, "--significance", "0.05"], "--significance", "scores-only")
    shifted = _copy(gate_runs["before-trec"].parent, "before-trec", tmp_path / "shifted", ["trec"])
    lines = _lines(shifted / "trec.jsonl")
    (shifted / "trec.jsonl").write_text("".join(lines[1:] + lines[:1]), encoding="utf-8")
    shutil.copy(gate_runs["before-trec"] / "result.json", shifted / "result.json")
    assert_exit_2_one_line(capsys, ["check", str(gate_runs["after-trec"]), "--baseline", str(shifted),
                                    "--significance", "0.05"], "--significance cannot pair", "answers differ")


# --- report --ci -----------------------------------------------------------------------------------------------

def test_report_ci_intervals_and_marks_against_the_baseline(real, tmp_path):
    import csv

    from longeval.report.collect import read_report_csv

    out = tmp_path / "board"
    assert main(["report", str(real / "llama3-8b"), str(real / "llama3-8b-quest-128"), "--tasks", "trec,lcc",
                 "--reference", "paper", "--ci", "--out", str(out)]) == 0
    rows = {row["run"]: row for row in csv.DictReader((out / "leaderboard.csv").open(encoding="utf-8"))}
    for model in ("llama3-8b", "llama3-8b-quest-128"):
        for task in ("trec", "lcc"):
            low, high = float(rows[model][f"{task}:ci_low"]), float(rows[model][f"{task}:ci_high"])
            assert low < float(rows[model][task]) < high
            scores = [100 * s for s in read_run(real / model, [task]).entries[task].scores]
            # numpy's mean, not scipy's untrimmed tmean (the same statistic): bootstrap vectorises it, 4x faster
            oracle = sps.bootstrap((scores,), np.mean, method="percentile", n_resamples=10_000,
                                   random_state=0).confidence_interval
            assert (low, high) == pytest.approx((oracle.low, oracle.high), abs=1.0)
    assert rows["paper T2: Ours"]["trec:ci_low"] == ""  # published: no records, no interval
    markdown = (out / "leaderboard.md").read_text(encoding="utf-8")
    # quest-128 vs the first run: TREC 71.00 -> 35.00 and lcc 49.69 -> 56.45, both far beyond noise
    assert f"| 35.00 [{float(rows['llama3-8b-quest-128']['trec:ci_low']):.2f}, " in markdown
    quest = next(line for line in markdown.splitlines() if line.startswith("| llama3-8b-quest-128 "))
    assert "35.00 [" in quest and "] ▼" in quest and "56.45 [" in quest and "] ▲" in quest
    baseline_row = next(line for line in markdown.splitlines() if line.startswith("| llama3-8b |"))
    assert "▲" not in baseline_row and "▼" not in baseline_row
    assert "Published rows have no records, so no interval." in markdown
    assert "baseline 'llama3-8b'" in markdown
    # the CSV stays a baseline `check` can read: interval columns are not tasks
    runs = {run.name: run for run in read_report_csv(out / "leaderboard.csv")}
    assert set(runs["llama3-8b"].scores) == {"trec", "lcc"}


def test_report_ci_on_longbench_e_buckets_and_html(real, tmp_path):
    import csv

    base = _copy(real, "llama3-8b", tmp_path / "e-base", ["trec"])
    candidate = _copy(real, "llama3-8b-quest-128", tmp_path / "e-cand", ["trec"])
    assert main(["score", "--e", str(base), str(candidate)]) == 0
    out = tmp_path / "board"
    assert main(["report", str(base), str(candidate), "--ci", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "leaderboard.csv").open(encoding="utf-8")))
    scored = json.loads((base / "result.json").read_text(encoding="utf-8"))["trec"]
    for row in rows:
        if row["run"] == "e-base" and row["trec"]:
            assert float(row["trec"]) == scored[row["bucket"]]
            assert float(row["trec:ci_low"]) <= float(row["trec"]) <= float(row["trec:ci_high"])
    assert sum(1 for row in rows if row["trec:ci_low"]) == 2 * sum(1 for v in scored.values() if v == v)
    page = (out / "leaderboard.html").read_text(encoding="utf-8")
    low = next(float(row["trec:ci_low"]) for row in rows if row["run"] == "e-base" and row["trec"])
    assert f"[{low:.2f}, " in page
