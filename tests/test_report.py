"""`longeval report` on real LongBench results (tests/fixtures/real-preds, unpacked) and on run folders made here.

Oracles: the result.json files themselves, averages computed here from them with LongBench's own category list
(written out below from the LongBench README, not taken from the registry), and the paper's tables parsed from
tests/fixtures/methods/paper_tables.md (provenance: tests/fixtures/PROVENANCE.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import stat
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import PAPER_TABLES, REAL_PRED_MODELS, SAMPLES, assert_one_line_error, unpack_real_preds

from longeval.cli import main

MODELS = list(REAL_PRED_MODELS)

# LongBench v1 task categories as the LongBench README lists them (independent of longeval's registry).
CATEGORIES = {
    "single-doc QA": ["narrativeqa", "qasper", "multifieldqa_en", "multifieldqa_zh"],
    "multi-doc QA": ["hotpotqa", "2wikimqa", "musique", "dureader"],
    "summarization": ["gov_report", "qmsum", "multi_news", "vcsum"],
    "few-shot": ["trec", "triviaqa", "samsum", "lsht"],
    "synthetic": ["passage_count", "passage_retrieval_en", "passage_retrieval_zh"],
    "code": ["lcc", "repobench-p"],
}
# The paper's column names (Table 2 header of arXiv 2401.07004) for the LongBench task keys.
SHORT = {"narrativeqa": "NQA", "qasper": "QAPR", "multifieldqa_en": "MFQA_en", "hotpotqa": "HPQA",
         "2wikimqa": "WMQA", "musique": "MSQ", "gov_report": "GR", "qmsum": "QMSM", "multi_news": "MNWS",
         "trec": "TREC", "triviaqa": "TRVQA", "samsum": "SMSM"}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four real prediction sets with their official result.json (unpacked from tests/fixtures)."""
    return unpack_real_preds(tmp_path_factory.mktemp("real") / "runs")


def official(root: Path, model: str) -> dict[str, float]:
    return json.loads((root / model / "result.json").read_text(encoding="utf-8"))


def report(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def md_table(text: str, title: str = "## LongBench") -> tuple[list[str], dict[str, list[str]]]:
    """The header and rows (by first cell) of the markdown table under a heading."""
    section = text.split(title + "\n", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    header, body = rows[0], rows[2:]
    return header, {_unitalic(row[0]): row for row in body}


def _unitalic(cell: str) -> str:
    """The text of a markdown cell that may be in *italics* and may hold escaped asterisks."""
    if cell.startswith("*") and cell.endswith("*"):
        cell = cell[1:-1]
    return cell.replace("\\*", "*")


class TableCells(HTMLParser):
    """Text of every <th>/<td> per <tr>, to read the HTML table back without trusting its renderer."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.fidelity
def test_report_values_equal_result_json_and_independent_averages(real_runs, tmp_path, capsys):
    out = tmp_path / "board"
    code, stdout, _ = report([str(real_runs), "--out", str(out)], capsys)
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.html"}

    rows = {row["run"]: row for row in csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text()))}
    assert list(rows) == MODELS  # a parent folder expands to its runs, named by their folders
    header, md_rows = md_table((out / "leaderboard.md").read_text())
    assert stdout == (out / "leaderboard.md").read_text()
    parser = TableCells()
    parser.feed((out / "leaderboard.html").read_text())
    html_rows = {row[0]: row for row in parser.rows if row and row[0] in MODELS}
    html_header = parser.rows[1]  # second header row: task columns, then averages

    # Paper order first with the paper's names, then the other tasks.
    assert header[4:16] == list(SHORT.values())
    assert "macro (21/21)" in header and "single-doc QA (4/4)" in header and "code (2/2)" in header
    for model in MODELS:
        scores = official(real_runs, model)
        assert len(scores) == 21
        row, md_row, html_row = rows[model], md_rows[model], html_rows[model]
        for task, value in scores.items():
            column = SHORT.get(task, task)
            assert float(row[task]) == value
            assert md_row[header.index(column)] == f"{value:.2f}"
            assert html_row[4 + html_header.index(column)] == f"{value:.2f}"
        for category, members in CATEGORIES.items():
            expected = mean([scores[t] for t in members])
            assert float(row[f"avg:{category}"]) == pytest.approx(expected, abs=1e-9)
            assert row[f"avg:{category}:count"] == row[f"avg:{category}:total"] == str(len(members))
            label = f"{category} ({len(members)}/{len(members)})"
            assert md_row[header.index(label)] == f"{expected:.2f}"
            assert html_row[4 + html_header.index(label)] == f"{expected:.2f}"
        macro = mean(list(scores.values()))
        assert float(row["macro"]) == pytest.approx(macro, abs=1e-9)
        assert md_row[header.index("macro (21/21)")] == f"{macro:.2f}"
        assert html_row[-1] == f"{macro:.2f}"


@pytest.mark.fidelity
def test_missing_task_is_shown_missing_and_averages_say_over_what(real_runs, tmp_path, capsys):
    runs = tmp_path / "runs"
    for model in ("llama2-7b", "llama2-7b-chat"):
        (runs / model).mkdir(parents=True)
        scores = official(real_runs, model)
        if model == "llama2-7b":
            del scores["qasper"]
        (runs / model / "result.json").write_text(json.dumps(scores))
    code, _, _ = report([str(runs / "llama2-7b"), str(runs / "llama2-7b-chat"), "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    header, md_rows = md_table((tmp_path / "o" / "leaderboard.md").read_text())
    row = md_rows["llama2-7b"]
    assert row[header.index("QAPR")] == "—"
    partial = official(real_runs, "llama2-7b")
    del partial["qasper"]
    assert row[header.index("macro (of 21)")] == f"{mean(list(partial.values())):.2f} (20/21)"
    assert md_rows["llama2-7b-chat"][header.index("macro (of 21)")] == \
        f"{mean(list(official(real_runs, 'llama2-7b-chat').values())):.2f}"
    single = [partial[t] for t in CATEGORIES["single-doc QA"] if t in partial]
    assert row[header.index("single-doc QA (of 4)")] == f"{mean(single):.2f} (3/4)"
    csv_row = next(csv.DictReader(io.StringIO((tmp_path / "o" / "leaderboard.csv").read_text())))
    assert csv_row["qasper"] == "" and csv_row["macro:count"] == "20" and csv_row["macro:total"] == "21"


def paper_oracle(table: str) -> dict[str, dict[str, float]]:
    """Rows of a table in paper_tables.md: label -> {short name: value}."""
    section = PAPER_TABLES.read_text(encoding="utf-8").split(f"### {table}", 1)[1]
    rows: dict[str, dict[str, float]] = {}
    header: list[str] = []
    for line in section.splitlines():
        if line.startswith("| Model"):
            header = [c.strip() for c in line.strip("|").split("|")]
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = {name: float(v) for name, v in zip(header[1:14], cells[1:14], strict=True)}
        elif rows:
            break
    return rows


@pytest.mark.fidelity
def test_reference_paper_rows_equal_table_2(real_runs, tmp_path, capsys):
    oracle = paper_oracle("Table 2")
    out = tmp_path / "o"
    code, _, _ = report([str(real_runs / "llama2-7b-chat"), "--reference", "paper", "--tasks", "paper12",
                         "--out", str(out)], capsys)
    assert code == 0
    header, md_rows = md_table((out / "leaderboard.md").read_text())
    csv_rows = {r["run"]: r for r in csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text()))}
    assert len(oracle) == 8
    for label, values in oracle.items():
        md_row = md_rows[f"paper T2: {label}"]
        csv_row = csv_rows[f"paper T2: {label}"]
        assert csv_row["source"].startswith("arXiv:2401.07004")  # marked as published, not measured
        tasks = [task for task, short in SHORT.items()]
        for task in tasks:
            assert float(csv_row[task]) == values[SHORT[task]]
            assert md_row[header.index(SHORT[task])] == f"{values[SHORT[task]]:.2f}"
        # Our macro over the 12 values rounds to the paper's printed Macro.
        assert round(float(csv_row["macro"]), 1) == values["Macro"]
        assert md_row[0].startswith("*") and md_row[0].endswith("*")  # italics: published row
    assert "published numbers" in (out / "leaderboard.md").read_text()
    # Three labels end in '*' (the paper's mark for rows it took from the LongBench paper); the note says so.
    assert sum(label.endswith("*") for label in oracle) == 3
    assert "\\* = numbers the paper copied from the LongBench paper." in (out / "leaderboard.md").read_text()
    page = (out / "leaderboard.html").read_text()
    assert "* = numbers the paper copied from the LongBench paper." in page and "\\* =" not in page


@pytest.mark.fidelity
def test_reference_paper_lengths_rows_equal_table_4(tmp_path, capsys, real_runs):
    oracle = paper_oracle("Table 4")
    out = tmp_path / "o"
    code, _, _ = report([str(real_runs / "llama3-8b"), "--reference", "paper-lengths", "--format", "csv",
                         "--out", str(out / "t4.csv")], capsys)
    assert code == 0
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO((out / "t4.csv").read_text()))}
    assert len(oracle) == 20
    for label, values in oracle.items():
        row = rows[f"paper T4: {label}"]
        assert int(row["max_length"]) == {"4k": 4096, "8k": 8192, "16k": 16384, "32k": 32768}[
            label.rsplit("-", 1)[1].lower()]
        for task, short in SHORT.items():
            assert float(row[task]) == values[short]
        assert round(float(row["macro"]), 1) == values["Macro"]


def write_run(folder: Path, result: dict, **meta) -> Path:
    """A run folder as the runner writes it (run.json schema of the interfaces), scores given."""
    info = {
        "run_name": folder.name,
        "model": {"path": f"/models/{meta.get('model', 'tiny-llama')}", "name": meta.get("model", "tiny-llama"),
                  "config_sha256": "0" * 64},
        "method": {"name": meta.get("method", "yarn"), "spec": meta.get("spec", "yarn:factor=4"),
                   "params": {"factor": 4}},
        "max_length": meta.get("max_length", 8192),
        "chat_wrapper": "none",
        "backend": {"name": "hf", "dtype": "float32"},
        "versions": {"longeval": "0", "vllm": None, "transformers": "5", "torch": "2"},
        "data": {"source": "local", "sha256": "1" * 64},
        "tasks": sorted(result),
        "started": "2026-01-01T00:00:00", "finished": "2026-01-01T00:10:00",
        "tokens": {"prompt": 10, "generated": 5}, "tokens_per_second": 1.0,
        "status": meta.get("status", "complete"),
    }
    if "limit" in meta:
        info["limit"] = meta["limit"]
    (folder / "pred").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(info))
    (folder / "pred" / "result.json").write_text(json.dumps(result))
    return folder


def test_run_folders_show_model_method_and_length_and_sort_by(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_run(runs / "b-eabf-8k", {"trec": 50.0, "samsum": 30.0}, method="eabf", spec="eabf:skip_layers=2")
    write_run(runs / "a-yarn-16k", {"trec": 40.0, "samsum": 20.0}, max_length=16384, status="partial")
    write_run(runs / "c-yarn-4k", {"trec": 45.5, "samsum": 25.25}, max_length=4096, limit=20)
    code, out, _ = report([str(runs), "--by", "method,max_length", "--format", "md", "--out", "-"], capsys)
    assert code == 0
    header, rows = md_table(out)
    assert list(rows) == ["b-eabf-8k", "c-yarn-4k (first 20 per task)", "a-yarn-16k (partial)"]
    row = rows["c-yarn-4k (first 20 per task)"]
    assert row[1:4] == ["tiny-llama", "yarn:factor=4", "4096"]
    assert row[header.index("TREC")] == "45.50" and row[header.index("macro (2/2)")] == f"{(45.5 + 25.25) / 2:.2f}"
    # The pred folder of a run stands for the run.
    code, out, _ = report([str(runs / "a-yarn-16k" / "pred"), "--format", "md", "--out", "-"], capsys)
    assert code == 0 and "a-yarn-16k (partial)" in out


def test_longbench_e_runs_get_a_length_bucket_table(tmp_path, capsys):
    buckets = {"qasper": {"0-4k": 30.0, "4-8k": 20.0, "8k+": 10.0},
               "trec": {"0-4k": 60.0, "4-8k": 50.0, "8k+": float("nan")}}  # official eval.py: NaN for empty
    folder = tmp_path / "e-run"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(buckets))
    code, out, _ = report([str(folder), "--format", "md,csv", "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    assert "## LongBench\n" not in out  # no plain task scores, no main table
    header, _ = md_table(out, "## LongBench-E by length bucket")
    lines = [line for line in out.splitlines() if line.startswith("| e-run")]
    by_bucket = {cells[4]: cells for cells in ([c.strip() for c in line.strip("|").split(" | ")] for line in lines)}
    assert list(by_bucket) == ["0-4k", "4-8k", "8k+"]
    assert by_bucket["0-4k"][header.index("QAPR")] == "30.00"
    assert by_bucket["8k+"][header.index("TREC")] == "—"
    assert by_bucket["8k+"][header.index("macro (of 2)")] == "10.00 (1/2)"
    assert by_bucket["4-8k"][header.index("macro (of 2)")] == "35.00"
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o" / "leaderboard.csv").read_text())))
    assert [(r["bucket"], r["trec"]) for r in rows] == [("0-4k", "60.0"), ("4-8k", "50.0"), ("8k+", "")]


@pytest.mark.parametrize("make_input, message", [
    (lambda tmp: tmp / "nowhere", "no such file or folder"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no runs here"),
    (lambda tmp: (tmp / "bad").mkdir() or (tmp / "bad" / "result.json").write_text("{oops") and tmp / "bad",
     "malformed JSON"),
    (lambda tmp: (tmp / "str").mkdir() or (tmp / "str" / "result.json").write_text('{"trec": "high"}') and
     tmp / "str", "field 'trec': expected a number"),
])
def test_unusable_input_exits_2_with_one_line(tmp_path, capsys, make_input, message):
    path = make_input(tmp_path)
    code = main(["report", str(path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, message)


def test_bad_options_exit_2(real_runs, tmp_path, capsys):
    assert main(["report", str(real_runs), "--format", "pdf"]) == 2
    assert main(["report", str(real_runs), "--reference", "nature"]) == 2
    assert main(["report", str(real_runs), "--by", "colour", "--out", "-", "--format", "md"]) == 2
    assert main(["report", str(real_runs), "--format", "md,csv", "--out", str(tmp_path / "x.md")]) == 2
    assert "error" in capsys.readouterr().err


def test_plots_are_written_and_embedded(real_runs, tmp_path, capsys):
    import matplotlib.image

    runs = tmp_path / "runs"
    write_run(runs / "pi-4k", {"trec": 60.0, "samsum": 40.0}, method="pi", spec="pi:factor=4", max_length=4096)
    write_run(runs / "pi-8k", {"trec": 62.0, "samsum": 41.0}, method="pi", spec="pi:factor=4", max_length=8192)
    out = tmp_path / "o"
    code, _, err = report([str(runs), str(real_runs / "llama2-7b"), "--plot", "--reference", "paper",
                           "--baseline", "llama2-7b", "--out", str(out)], capsys)
    assert code == 0
    for name in ("macro_vs_length.png", "delta_to_baseline.png"):
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert str(out / name) in err
    page = (out / "leaderboard.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    # Readable by others (0644 under the usual umask 022), not mkstemp's 0600.
    umask = os.umask(0o022)
    os.umask(umask)
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched
    assert main(["report", str(runs), "--plot", "--baseline", "nobody", "--out", str(out)]) == 2


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_html_opens_in_headless_chromium(real_runs, tmp_path, capsys):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (e.g. apt-get install chromium) — HTML rendering not checked")
    out = tmp_path / "o"
    assert report([str(real_runs), "--reference", "paper", "--plot", "--out", str(out)], capsys)[0] == 0
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
    page = (out / "leaderboard.html").as_uri()
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = TableCells()
    parser.feed(dom.stdout)
    rendered = {row[0]: row for row in parser.rows if row}
    assert set(MODELS) <= set(rendered)  # the browser built the table with every run
    shot = tmp_path / "shot.png"
    result = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1600,1200", page],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and shot.stat().st_size > 10_000
    assert not math.isnan(float(rendered["llama2-7b"][-1]))


@pytest.mark.slow
def test_runs_made_by_the_runner_report_and_check(tiny_model, tmp_path, capsys):
    """The run folders `longeval run` writes (real transformers engine, tiny model) feed report and check."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SAMPLES / "triviaqa.sample.jsonl", data / "triviaqa.jsonl")
    runs = tmp_path / "runs"
    assert main(["run", "--model", str(tiny_model), "--method", "yarn:factor=4", "--tasks", "triviaqa",
                 "--data", str(data), "--max-length", "128,256", "--backend", "hf", "--out", str(runs),
                 "--no-progress"]) == 0
    folders = sorted(p for p in runs.iterdir() if p.is_dir())
    assert len(folders) == 2
    out = tmp_path / "board"
    assert main(["report", str(runs), "--by", "max_length", "--plot", "--out", str(out)]) == 0
    header, rows = md_table((out / "leaderboard.md").read_text())
    capsys.readouterr()
    for folder in folders:
        info = json.loads((folder / "run.json").read_text())
        result = json.loads((folder / "pred" / "result.json").read_text())
        row = rows[info["run_name"]]
        assert row[1] == info["model"]["name"] and row[3] == str(info["max_length"])
        assert row[2].startswith("yarn:") and "factor=4" in row[2]
        assert row[header.index("TRVQA")] == f"{result['triviaqa']:.2f}"
    assert (out / "macro_vs_length.png").stat().st_size > 0
    assert main(["check", str(folders[0]), "--baseline", str(folders[0])]) == 0


@pytest.mark.parametrize("table", ["table2", "table4"])
def test_carried_paper_numbers_agree_with_the_papers_own_macro(table):
    """Transcription check that needs no shared/: each row's 12 values average to the Macro the paper printed."""
    from longeval.report.reference import paper_table, published_macros

    printed = published_macros(table)
    rows = paper_table(table)
    assert len(rows) == len(printed) == {"table2": 8, "table4": 20}[table]
    for run in rows:
        assert len(run.scores) == 12
        label = run.name.split(": ", 1)[1]
        assert abs(mean(list(run.scores.values())) - printed[label]) <= 0.05 + 1e-9


def test_paper_delta_compares_like_with_like(tmp_path):
    """A 3-task run against the paper's 12-task rows: the macro difference is taken over the 3 shared tasks
    (the difference of the two rows' own macros compared a 12-task mean with a 3-task mean: +33 points)."""
    from longeval.report.collect import collect_runs
    from longeval.report.plots import delta_table
    from longeval.report.reference import reference_runs
    from longeval.report.table import build_leaderboard

    oracle = paper_oracle("Table 2")
    mine = {"trec": 10.0, "samsum": 5.0, "triviaqa": 20.0}
    write_run(tmp_path / "r3", mine)
    board = build_leaderboard(collect_runs([tmp_path / "r3"]) + reference_runs("paper"), None)
    delta = delta_table(board, "r3")
    for label, values in oracle.items():
        expected = sum(values[SHORT[task]] - score for task, score in mine.items()) / 3
        assert delta.loc[f"paper T2: {label}", "macro"] == pytest.approx(expected)
    # Rows sharing no task with the baseline get no macro difference at all.
    write_run(tmp_path / "other", {"qasper": 30.0})
    board = build_leaderboard(collect_runs([tmp_path / "r3", tmp_path / "other"]), None)
    assert math.isnan(delta_table(board, "r3").loc["other", "macro"])


def test_best_is_marked_only_where_runs_differ(tmp_path, capsys):
    """All runs at 0.00 on a task: none is better, so none is marked best (bold); a real winner still is."""
    runs = tmp_path / "runs"
    write_run(runs / "a", {"trec": 0.0, "samsum": 40.0, "lcc": 50.0})
    write_run(runs / "b", {"trec": 0.0, "samsum": 41.0, "lcc": 50.0})
    write_run(runs / "c", {"trec": 0.0, "samsum": 39.0, "lcc": 45.0})
    code, _, _ = report([str(runs), "--format", "html", "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    page = (tmp_path / "o" / "leaderboard.html").read_text()
    assert page.count('class="num best"') == 3  # samsum: b; lcc: a and b (a tie at the top is shared)
    assert '<td class="num best">0.00</td>' not in page


def test_readme_names_the_files_report_writes():
    """The README's promise about report output must name the files build.py writes (it once promised a
    leaderboard .png that never existed)."""
    import re

    from longeval.report.build import DELTA_PLOT, FILE_NAMES, LENGTH_PLOT

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    # The files promised next to the `longeval report ... --plot` example (other commands' PNGs are theirs).
    example = readme[readme.index("longeval report runs/ --reference paper"):]
    promised = example[:example.index("\n\n")]
    assert set(re.findall(r"[\w-]+\.png", promised)) == {LENGTH_PLOT, DELTA_PLOT}
    assert "leaderboard.{md,csv,html}" in promised and set(FILE_NAMES.values()) == {
        f"leaderboard.{ext}" for ext in ("md", "csv", "html")}
    assert ",png}" not in readme


def test_default_output_is_its_own_folder_and_never_a_run_folder(real_runs, tmp_path, capsys, monkeypatch):
    """Not the repository's tracked results/ (it once was), and never among a run's own files."""
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(real_runs), "--format", "md"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["longeval-report"]
    assert (tmp_path / "longeval-report" / "leaderboard.md").is_file()
    a_run = next(p.parent for p in real_runs.rglob("result.json"))
    before = sorted(p.name for p in a_run.iterdir())
    assert main(["report", str(real_runs), "--format", "md", "--out", str(a_run)]) == 2
    assert "is a run's folder" in capsys.readouterr().err
    assert sorted(p.name for p in a_run.iterdir()) == before
