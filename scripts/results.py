#!/usr/bin/env python3
"""Regenerate results/ from committed predictions: the leaderboard (`longeval report` on the real LongBench
prediction sets carried in tests/fixtures/real-preds and the paper's published rows), and the section
"SmolLM2-135M-Instruct: context extension without fine-tuning" (results/smollm2/: tables and plots re-scored from
the run folders in results/smollm2/runs, which scripts/smollm2-runs.sh made with `longeval run`); or, with --check,
compare a regeneration with the committed files (tests/test_results.py does this in CI).

    python scripts/results.py            # rewrite results/leaderboard.*, results/smollm2/*.{md,csv,png}
    python scripts/results.py --check    # exit 1, naming each file, when results/ differs from a regeneration

Tables are compared byte for byte. PNG pixels depend on the matplotlib and FreeType releases installed, so the
plots (and the copies the HTML page embeds) are compared by being valid PNG images of the same size.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import re
import struct
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's longeval, installed or not

from longeval.report.stats import (  # noqa: E402
    bootstrap_means,
    compare_paired,
    holm,
    percentile_interval,
    task_rng,
)

RESULTS = ROOT / "results"
PREDICTION_SETS = ROOT / "tests" / "fixtures" / "real-preds"
MODELS = ("llama2-7b", "llama2-7b-chat", "llama3-8b", "llama3-8b-quest-128")
# The paper's 12 tasks, so that every row's averages are over the same tasks as the published rows'.
REPORT_OPTIONS = ["--tasks", "paper12", "--reference", "paper,paper-lengths", "--plot", "--baseline",
                  "llama2-7b-chat"]
TABLES = ("leaderboard.md", "leaderboard.csv")
PAGE = "leaderboard.html"
PLOTS = ("macro_vs_length.png", "delta_to_baseline.png")
EMBEDDED_PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")

# The SmolLM2 section (its code below).
SMOLLM2 = "smollm2"
SMOLLM2_RUNS = RESULTS / SMOLLM2 / "runs"
SMOLLM2_TASKS = RESULTS / SMOLLM2 / "tasks"
SECTION_TABLES = ("scores.md", "scores.csv", "effective_length.csv", "compare.csv", "ppl.csv", "headline.md")
SMOLLM2_PPL = RESULTS / SMOLLM2 / "ppl" / "ppl.json"  # `longeval ppl`'s ledger (per cell: tokens, total nll)
README = ROOT / "README.md"
# The README's first screen carries the headline table between these markers; a regeneration rewrites it.
HEADLINE_START, HEADLINE_END = "<!-- results-headline: start -->", "<!-- results-headline: end -->"
SECTION_PLOTS = ("passkey_vs_length.png", "passkey_depth_length.png", "ruler_vs_length.png", "ppl_vs_length.png")
METHOD_ORDER = ("none", "pi", "ntk", "yarn", "abf", "eabf")
# RULER's threshold: Llama-2-7B (4k) scores 85.6 on RULER's 13 tasks (RULER paper, Table 3); its "effective
# length" is the longest length up to which a model stays above it.
RULER_THRESHOLD = 85.6
RELATIVE_SHARE = 0.85  # the model-relative threshold: 85% of `none`'s score at the shortest length
RESAMPLES, SEED, ALPHA = 10_000, 0, 0.05
# Which pairs `compare` tests at each length: every method against `none`, and eabf against abf.
PAIRS = tuple(("none", m) for m in METHOD_ORDER[1:]) + (("abf", "eabf"),)
WINDOW = 8192  # SmolLM2-135M-Instruct's trained context (max_position_embeddings)
# Besides each length, every comparison is also made on the records of several lengths pooled: one cell holds a few
# records, too few for any test to separate methods, while inside / past the window holds them all.
POOLS = (("inside", "≤ 8k pooled", lambda n: n <= WINDOW), ("past", "> 8k pooled", lambda n: n > WINDOW))


def regenerate(out: Path) -> list[Path]:
    """Write the leaderboard files and the SmolLM2 section into `out` (created if needed); returns the files."""
    from longeval.cli import main

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for model in MODELS:
            with tarfile.open(PREDICTION_SETS / f"{model}.tar.xz") as archive:
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(runs, filter="data")
                else:
                    archive.extractall(runs)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(["report", *(str(runs / m) for m in MODELS), *REPORT_OPTIONS, "--out", str(out)])
        if code != 0:
            raise SystemExit(f"longeval report failed: {err.getvalue().strip()}")
    return [out / name for name in (*TABLES, PAGE, *PLOTS)] + regenerate_section(out)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG image, or None when `data` is not one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or not data.endswith(b"IEND\xaeB`\x82"):
        return None
    return struct.unpack(">II", data[16:24])


def differences(committed: Path, fresh: Path, readme: Path | None = README) -> list[str]:
    """One line per file of `committed` that differs from the regeneration in `fresh` (and the headline block of
    `readme`, when given, that differs from the regenerated headline)."""
    out: list[str] = []
    headline = fresh / SMOLLM2 / "headline.md"
    if readme is not None and headline.is_file() and \
            readme_headline(readme.read_text(encoding="utf-8")) != headline.read_text(encoding="utf-8"):
        out.append(f"{readme}: its headline ({HEADLINE_START} ... {HEADLINE_END}) differs from a regeneration")
    section = [f"{SMOLLM2}/{name}" for name in (*SECTION_TABLES, *SECTION_PLOTS)]
    for name in (*TABLES, PAGE, *PLOTS, *section):
        path = committed / name
        if not (fresh / name).is_file():
            if path.is_file():
                out.append(f"{path}: not made by a regeneration")
            continue
        if not path.is_file():
            out.append(f"{path}: missing")
            continue
        old, new = path.read_bytes(), (fresh / name).read_bytes()
        if (name in TABLES or name.endswith((".md", ".csv"))) and old != new:
            out.append(f"{path}: differs from a regeneration")
        elif name == PAGE:
            pages = [EMBEDDED_PNG.sub("data:image/png;base64,...", data.decode("utf-8")) for data in (old, new)]
            images = [[png_size(_b64(m)) for m in EMBEDDED_PNG.findall(data.decode("utf-8"))] for data in (old, new)]
            if pages[0] != pages[1] or images[0] != images[1] or None in images[0]:
                out.append(f"{path}: differs from a regeneration")
        elif name.endswith(".png") and (png_size(old) is None or png_size(old) != png_size(new)):
            out.append(f"{path}: not a valid PNG of the regenerated size {png_size(new)}")
    return out


def _b64(data_uri: str) -> bytes:
    import base64

    return base64.b64decode(data_uri.split(",", 1)[1])


# --- SmolLM2-135M-Instruct: context extension without fine-tuning ---------------------------------------------
# Inputs: run folders that `longeval run` wrote (scripts/smollm2-runs.sh makes them) under results/smollm2/runs,
# with the task YAML they used under results/smollm2/tasks. Outputs: the tables and plots below, in
# results/smollm2/. Every number is recomputed from the prediction lines (per-record scores by the task's unit).


class Cell:
    """One benchmark x method x prompt length: per task, the records' ids and official per-record scores.
    (Plain classes, not dataclasses: tests load this script without registering it as a module.)"""

    def __init__(self, benchmark: str, method: str, length: int) -> None:
        self.benchmark, self.method, self.length = benchmark, method, length
        self.tasks: dict[str, dict[str, float]] = {}  # task -> {record id: score in [0, 1]}
        self.binary = True
        self.depths: dict[str, float] = {}  # passkey record id -> key depth

    @property
    def records(self) -> int:
        return sum(len(scores) for scores in self.tasks.values())

    @property
    def score(self) -> float:
        """The benchmark's score at this length: mean over its tasks of each task's mean (points)."""
        return float(np.mean([100.0 * np.mean(list(s.values())) for s in self.tasks.values()]))

    def interval(self) -> tuple[float, float] | None:
        """95% interval of `score`. One task scored 0/1 (passkey): Wilson's score interval, which stays honest at
        a handful of records (a bootstrap of 3 equal outcomes has zero width). Several tasks (RULER): a bootstrap
        with each task resampled on its own (stratified), as compare's macro row; None when a task has a single
        record (its bootstrap has zero width and would claim a certainty one record cannot give)."""
        if self.binary and len(self.tasks) == 1:
            (scores,) = self.tasks.values()
            return wilson(sum(scores.values()), len(scores))
        if min(len(scores) for scores in self.tasks.values()) < 2:
            return None
        boots = [bootstrap_means(100.0 * np.fromiter(s.values(), float), RESAMPLES, task_rng(SEED, t))
                 for t, s in self.tasks.items()]
        return percentile_interval(np.mean(boots, axis=0), ALPHA)


class RunInfo(NamedTuple):
    """What the section says about one run folder: its method spec, records, engine and wall time."""

    name: str
    benchmark: str
    method: str
    spec: str
    records: int
    prompt_tokens: int
    engine: str
    load_seconds: float | None  # engine start (run.json timing.engine_load)
    generate_seconds: float | None  # generation of every record (run.json timing.generate, last session's)


def wilson(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95%) of a proportion, in points."""
    phat = successes / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def _family_label(family: str) -> str:
    return {"passkey": "passkey", "ruler": "RULER"}.get(family, family)


def _sections_imports() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def read_smollm2_runs(runs_dir: Path | None = None) -> tuple[dict[tuple[str, str, int], Cell], list[RunInfo]]:
    """Every run folder with predictions (default: the committed ones), re-scored from its prediction lines, as
    cells keyed (benchmark, method, length)."""
    _sections_imports()
    from longeval import tasks as task_registry
    from longeval.benchmarks import benchmark_of
    from longeval.benchmarks.passkey.generate import parse_id
    from longeval.report.records import read_run
    from longeval.scoring import task_for_file
    from longeval.tasks import add_tasks_path

    # The section's task YAML joins the registry only while its runs are read (a test process goes on after).
    before = list(task_registry._user_dirs)
    if SMOLLM2_TASKS.is_dir():
        add_tasks_path(SMOLLM2_TASKS)
    try:
        return _read_runs(runs_dir, benchmark_of, parse_id, read_run, task_for_file)
    finally:
        task_registry._user_dirs[:] = before
        task_registry.clear_cache()


def _read_runs(runs_dir: Path | None, benchmark_of: Any, parse_id: Any, read_run: Any,
               task_for_file: Any) -> tuple[dict[tuple[str, str, int], Cell], list[RunInfo]]:
    cells: dict[tuple[str, str, int], Cell] = {}
    infos: list[RunInfo] = []
    runs_dir = SMOLLM2_RUNS if runs_dir is None else runs_dir
    folders = sorted(p.parent for p in runs_dir.glob("*/run.json") if any(p.parent.glob("pred/*.jsonl")))
    for folder in folders:
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if info.get("status") != "complete":
            continue  # a run under way (or interrupted): never committed so
        method = info["method"]["name"]
        records = read_run(folder)
        families = set()
        for key, entry in records.entries.items():
            task = task_for_file(entry.path)
            assert task is not None, entry.path
            family = _family_label(benchmark_of(task).name)
            families.add(family)
            if entry.ids is None:
                raise SystemExit(f"{entry.path}: records without distinct _id cannot be paired")
            for record_id, score in zip(entry.ids, entry.scores, strict=True):
                parsed = parse_id(record_id) if family == "passkey" else None
                length = parsed[0] if parsed else int(info["max_length"])
                cell = cells.setdefault((family, method, length), Cell(family, method, length))
                cell.tasks.setdefault(key, {})[record_id] = score
                cell.binary = cell.binary and entry.binary
                if parsed:
                    cell.depths[record_id] = parsed[1]
        backend = info.get("backend", {})
        engine = f"{backend.get('name', '?')} {info.get('versions', {}).get(backend.get('name', ''), '')}".strip()
        engine += f", {backend.get('dtype_used') or backend.get('dtype', '?')}"
        timing = info.get("timing") or {}
        infos.append(RunInfo(folder.name, ", ".join(sorted(families)), method, info["method"]["spec"],
                             sum(len(e.scores) for e in records.entries.values()),
                             int((info.get("tokens") or {}).get("prompt") or 0), engine,
                             timing.get("engine_load"), timing.get("generate")))
    return cells, infos


def _methods(cells: dict[tuple[str, str, int], Cell], benchmark: str) -> list[str]:
    found = {m for b, m, _ in cells if b == benchmark}
    return [m for m in METHOD_ORDER if m in found] + sorted(found - set(METHOD_ORDER))


def _lengths(cells: dict[tuple[str, str, int], Cell], benchmark: str) -> list[int]:
    return sorted({n for b, _, n in cells if b == benchmark})


def _benchmarks(cells: dict[tuple[str, str, int], Cell]) -> list[str]:
    order = ("passkey", "RULER")
    found = {b for b, _, _ in cells}
    return [b for b in order if b in found] + sorted(found - set(order))


def length_label(tokens: int) -> str:
    """2000 -> 2k, 16000 -> 16k, 12288 -> 12k, 1500 -> 1.5k."""
    value = tokens / 1024 if tokens % 1024 == 0 else tokens / 1000
    return f"{value:g}k" if tokens >= 1000 else str(tokens)


def effective_length(scores: dict[int, float], threshold: float) -> int | None:
    """The longest tested length up to which every tested length scores at least `threshold` (RULER's
    definition on the lengths tested); None when the shortest already falls below it."""
    found = None
    for length in sorted(scores):
        if scores[length] < threshold:
            break
        found = length
    return found


def compare_cells(base: Cell, candidate: Cell) -> tuple[dict[str, Any], int]:
    """`longeval compare`'s paired statistics on the records both cells hold: one task -> that task's row
    (McNemar for 0/1 scores), several -> the stratified macro row. Returns (row, records paired)."""
    pairs = {}
    for task, scores in base.tasks.items():
        other = candidate.tasks.get(task, {})
        ids = sorted(set(scores) & set(other))
        if ids:
            pairs[task] = ([scores[i] for i in ids], [other[i] for i in ids], base.binary and candidate.binary)
    if not pairs:
        return {}, 0
    stats = compare_paired(pairs, resamples=RESAMPLES, seed=SEED, alpha=ALPHA)
    n = sum(len(b) for b, _, _ in pairs.values())
    if len(pairs) == 1:
        (row,) = stats.tasks.values()
        return {"delta": row.delta, "ci_low": row.ci_low, "ci_high": row.ci_high, "p": row.p, "test": row.test}, n
    macro = stats.macro
    return {"delta": macro.delta, "ci_low": macro.ci_low, "ci_high": macro.ci_high, "p": macro.p,
            "test": "stratified sign-flip"}, n


def pooled_cell(cells: dict[tuple[str, str, int], Cell], benchmark: str, method: str,
                lengths: list[int]) -> Cell | None:
    """The records of `lengths` in one cell (ids prefixed with their length: RULER numbers records per length);
    None when the method has none of those lengths."""
    found = [cells[(benchmark, method, n)] for n in lengths if (benchmark, method, n) in cells]
    if not found:
        return None
    pooled = Cell(benchmark, method, 0)
    for cell in found:
        for task, scores in cell.tasks.items():
            pooled.tasks.setdefault(task, {}).update({f"{cell.length}/{i}": s for i, s in scores.items()})
        pooled.binary = pooled.binary and cell.binary
    return pooled


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else "<0.001"


def section_tables(cells: dict[tuple[str, str, int], Cell], infos: list[RunInfo]) -> dict[str, str]:
    """scores.md/.csv, effective_length.csv and compare.csv as text."""
    score_rows: list[list[Any]] = []
    effective_rows: list[list[Any]] = []
    compare_rows: list[list[Any]] = []
    md: list[str] = [
        "# SmolLM2-135M-Instruct: context extension without fine-tuning",
        "",
        "Generated by `python scripts/results.py` from the run folders in `runs/` (re-scored from their prediction",
        "lines); what the numbers mean and what they do not: `results/README.md`. Scores in points (0-100) with 95%",
        "intervals (passkey: Wilson; RULER: bootstrap over records, tasks stratified, [—] with one record per task);",
        "n = records per cell. Trained window: 8192 tokens.",
    ]
    for benchmark in _benchmarks(cells):
        methods, lengths = _methods(cells, benchmark), _lengths(cells, benchmark)
        tasks = sorted({t for (b, _, _), cell in cells.items() if b == benchmark for t in cell.tasks})
        md += ["", f"## {benchmark}: score by prompt length", "",
               f"Tasks: {', '.join(f'`{t}`' for t in tasks)}" + (" (the score: the mean of their scores)."
                                                                  if len(tasks) > 1 else "."), "",
               "| method | " + " | ".join(f"{length_label(n)} (n)" for n in lengths) + " |",
               "|---|" + "---|" * len(lengths)]
        for method in methods:
            row = [method]
            for n in lengths:
                cell = cells.get((benchmark, method, n))
                if cell is None:
                    row.append("—")
                    continue
                interval = cell.interval()
                shown = "[—]" if interval is None else f"[{interval[0]:.0f}, {interval[1]:.0f}]"
                row.append(f"{cell.score:.1f} {shown} ({cell.records})")
                score_rows.append([benchmark, method, n, cell.records, f"{cell.score:.2f}",
                                   *(("", "") if interval is None else (f"{interval[0]:.2f}", f"{interval[1]:.2f}"))])
            md.append("| " + " | ".join(row) + " |")
        none_first = cells.get((benchmark, "none", lengths[0]))
        relative = RELATIVE_SHARE * none_first.score if none_first else None
        md += ["", f"**Effective length** ({benchmark}): the longest tested length up to which every tested length "
               f"scores at least the threshold; RULER's threshold {RULER_THRESHOLD} (Llama-2-7B at 4k), and a "
               f"model-relative one, {RELATIVE_SHARE:.0%} of `none` at {length_label(lengths[0])} = "
               f"{_fmt(relative, 2)}.", "",
               f"| method | effective length (≥ {RULER_THRESHOLD}) | effective length (≥ {_fmt(relative, 2)}) |",
               "|---|---|---|"]
        for method in methods:
            scores = {n: cells[(benchmark, method, n)].score for n in lengths if (benchmark, method, n) in cells}
            useful = relative is not None and relative > 0  # 85% of a zero says nothing
            found = [effective_length(scores, RULER_THRESHOLD),
                     effective_length(scores, relative) if useful and relative is not None else None]
            shown = [f"< {length_label(min(scores))}" if f is None else length_label(f) for f in found]
            if not useful:
                shown[1] = f"— (`none` scores {_fmt(none_first.score if none_first else None)} at " \
                           f"{length_label(lengths[0])})"
            md.append(f"| {method} | " + " | ".join(shown) + " |")
            effective_rows.append([benchmark, method, RULER_THRESHOLD, found[0] or "",
                                   "" if relative is None else f"{relative:.2f}", found[1] or ""])
        md += ["", f"**Paired comparisons** ({benchmark}, `longeval compare`'s statistics on the records both "
               "runs hold at that length): delta = candidate - base in points, its 95% paired bootstrap interval, "
               "two-sided p (exact McNemar for passkey's 0/1 scores; stratified sign-flip over tasks for RULER), "
               "Holm-adjusted over the lengths of one comparison in compare.csv. The last two columns pool the "
               "records inside the 8k window and past it (`inside` and `past` in compare.csv; records paired within "
               "each length; Holm over the two). With a few records a bootstrap interval can have zero width (every "
               "resample alike): read p, which accounts for n.", "",
               "| base → candidate | " + " | ".join(length_label(n) for n in lengths)
               + " | " + " | ".join(label for _, label, _ in POOLS) + " |",
               "|---|" + "---|" * (len(lengths) + len(POOLS))]
        for base_method, candidate_method in PAIRS:
            if base_method not in methods or candidate_method not in methods:
                continue
            # One Holm family per comparison for the lengths, one for the pooled columns.
            families = ([(str(n), {m: cells.get((benchmark, m, n)) for m in (base_method, candidate_method)})
                         for n in lengths],
                        [(name, {m: pooled_cell(cells, benchmark, m, [n for n in lengths if keep(n)])
                                             for m in (base_method, candidate_method)}) for name, _, keep in POOLS])
            cells_md = []
            for family in families:
                found_rows: dict[str, tuple[dict[str, Any], int]] = {}
                for column, pair in family:
                    base, candidate = pair.get(base_method), pair.get(candidate_method)
                    if isinstance(base, Cell) and isinstance(candidate, Cell):
                        row, paired = compare_cells(base, candidate)
                        if paired:
                            found_rows[column] = (row, paired)
                adjusted = holm({c: row["p"] for c, (row, _) in found_rows.items()}) if found_rows else {}
                for column, _ in family:
                    if column not in found_rows:
                        cells_md.append("—")
                        continue
                    row, paired = found_rows[column]
                    cells_md.append(f"{row['delta']:+.1f} [{row['ci_low']:+.0f}, {row['ci_high']:+.0f}] "
                                    f"p={_p(row['p'])} n={paired}")
                    compare_rows.append([benchmark, base_method, candidate_method, column, paired,
                                         f"{row['delta']:.2f}", f"{row['ci_low']:.2f}", f"{row['ci_high']:.2f}",
                                         f"{row['p']:.4g}", f"{adjusted[column]:.4g}", row["test"]])
            md.append(f"| {base_method} → {candidate_method} | " + " | ".join(cells_md) + " |")
    md += ["", "## Runs", "", "Seconds from each run.json (`timing`): the engine start, and generation (as run.json "
           "records it), on the shared 2-core machine (`results/README.md` says how loaded).",
           "", "| run folder | benchmark | method | records | prompt tokens | engine | engine start (s) | "
           "generation (s) |", "|---|---|---|---|---|---|---|---|"]
    for info in infos:
        md.append(f"| `{info.name}` | {info.benchmark} | `{info.spec}` | {info.records} | {info.prompt_tokens:,} | "
                  f"{info.engine} | {_fmt(info.load_seconds, 0)} | {_fmt(info.generate_seconds, 0)} |")
    return {"scores.md": "\n".join(md) + "\n",
            "scores.csv": _csv(["benchmark", "method", "length", "records", "score", "ci_low", "ci_high"],
                               score_rows),
            "effective_length.csv": _csv(["benchmark", "method", "threshold", "effective_length",
                                          "relative_threshold", "relative_effective_length"], effective_rows),
            "compare.csv": _csv(["benchmark", "base", "candidate", "length", "records", "delta", "ci_low",
                                 "ci_high", "p", "p_holm", "test"], compare_rows)}


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def section_plots(cells: dict[tuple[str, str, int], Cell], out: Path) -> list[str]:
    """The plots the data allows: passkey accuracy vs length and depth x length, RULER average vs length."""
    _sections_imports()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from longeval.report.plots import _save

    written: list[str] = []
    for benchmark, name, ylabel in (("passkey", "passkey_vs_length.png", "passkey accuracy (%)"),
                                    ("RULER", "ruler_vs_length.png", "RULER average over the tasks run (%)")):
        methods, lengths = _methods(cells, benchmark), _lengths(cells, benchmark)
        if not methods:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
        for index, method in enumerate(methods):
            xs = [n for n in lengths if (benchmark, method, n) in cells]
            ys = [cells[(benchmark, method, n)].score for n in xs]
            bands = [cells[(benchmark, method, n)].interval() for n in xs]
            line = ax.plot(xs, ys, marker="osD^vP"[index % 6], markersize=max(9 - index, 4),
                           linewidth=max(3 - 0.4 * index, 1), label=method)[0]
            if all(band is not None for band in bands):
                ax.fill_between(xs, [b[0] for b in bands if b], [b[1] for b in bands if b], color=line.get_color(),
                                alpha=0.08)
        ax.axvline(WINDOW, color="grey", linestyle=":", linewidth=1.5)
        ax.text(WINDOW, 68, "trained window: 8,192 tokens ", color="grey", fontsize=7, va="center", ha="right",
                rotation=90)
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [length_label(n) for n in lengths])
        ax.minorticks_off()
        ax.set_ylim(-5, 105)
        ax.set_xlabel("prompt length (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"SmolLM2-135M-Instruct, no fine-tuning: {benchmark} vs prompt length"
                     + (" (bands: 95% CI)" if benchmark == "passkey" else ""), fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        _save(fig, out / name)
        written.append(name)
    methods, lengths = _methods(cells, "passkey"), _lengths(cells, "passkey")
    if methods:
        fig, axes = plt.subplots(1, len(methods), figsize=(1.6 + 2.3 * len(methods), 3.2), dpi=120,
                                 squeeze=False, layout="constrained")
        image = None
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#d0d7de")
        for ax, method in zip(axes[0], methods, strict=True):
            hits: dict[tuple[float, int], list[float]] = {}
            for n in lengths:
                cell = cells.get(("passkey", method, n))
                for scores in (cell.tasks.values() if cell else ()):
                    for record_id, score in scores.items():
                        hits.setdefault((cell.depths[record_id], n), []).append(score)
            depths = sorted({d for d, _ in hits})
            values = np.full((len(depths), len(lengths)), np.nan)
            for (depth, n), scores in hits.items():
                values[depths.index(depth), lengths.index(n)] = 100.0 * float(np.mean(scores))
            image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=100, aspect="auto")
            ax.set_xticks(range(len(lengths)), [length_label(n) for n in lengths], fontsize=7, rotation=45)
            ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths], fontsize=7)
            ax.set_title(method, fontsize=9)
            ax.set_xlabel("prompt length", fontsize=7)
        axes[0][0].set_ylabel("key depth", fontsize=8)
        if image is not None:
            fig.colorbar(image, ax=list(axes[0]), fraction=0.05, pad=0.02, label="accuracy (%)")
        _save(fig, out / "passkey_depth_length.png")
        written.append("passkey_depth_length.png")
    return written


def read_ppl(ledger: Path | None = None) -> list[dict[str, Any]]:
    """`longeval ppl`'s cells (method, length, documents, tokens, nll), ppl recomputed as exp(nll / tokens)."""
    ledger = SMOLLM2_PPL if ledger is None else ledger
    if not ledger.is_file():
        return []
    doc = json.loads(ledger.read_text(encoding="utf-8"))
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    cells = [{"method": str(c["method"]).split(":", 1)[0], "length": int(c["length"]), "documents": int(c["documents"]),
              "tokens": int(c["tokens"]), "nll": float(c["nll"]), "ppl": math.exp(float(c["nll"]) / int(c["tokens"]))}
             for c in doc["cells"]]
    return sorted(cells, key=lambda c: (rank.get(c["method"], len(rank)), c["method"], c["length"]))


def ppl_tables(cells: list[dict[str, Any]]) -> tuple[str, str]:
    """(markdown section, ppl.csv) of the perplexity cells."""
    methods = list(dict.fromkeys(c["method"] for c in cells))
    lengths = sorted({c["length"] for c in cells})
    by = {(c["method"], c["length"]): c for c in cells}
    md = ["", "## Perplexity by context length", "",
          "`longeval ppl` on the RULER essays (the 49 Paul Graham essays RULER's haystack is made of, concatenated "
          "in file-name order into one document): the first L tokens, loss over the L - 1 predicted tokens. One "
          "document per cell: no interval.", "",
          "| method | " + " | ".join(length_label(n) for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for method in methods:
        md.append(f"| {method} | " + " | ".join(_fmt(by[(method, n)]["ppl"], 2) if (method, n) in by else "—"
                                                for n in lengths) + " |")
    rows = [[c["method"], c["length"], c["documents"], c["tokens"], f"{c['nll']:.4f}", f"{c['ppl']:.4f}"]
            for c in cells]
    return "\n".join(md) + "\n", _csv(["method", "length", "documents", "tokens", "nll", "ppl"], rows)


def headline(cells: dict[tuple[str, str, int], Cell]) -> str:
    """The README's first-screen table: passkey accuracy per method and length."""
    methods, lengths = _methods(cells, "passkey"), _lengths(cells, "passkey")
    counts = sorted({cells[k].records for k in cells if k[0] == "passkey"})
    n = "-".join(str(c) for c in (counts[0], counts[-1])) if len(counts) > 1 else str(counts[0])
    lines = ["**Measured by longeval** on SmolLM2-135M-Instruct (no fine-tuning; each RoPE method applied at load):",
             f"passkey accuracy (%) by prompt length, trained window 8k, {n} record(s) per cell, so read the 95%",
             "intervals in [results/smollm2/scores.md](results/smollm2/scores.md).", "",
             "| method | " + " | ".join(length_label(x) for x in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for method in methods:
        lines.append(f"| {method} | " + " | ".join(
            f"{cells[('passkey', method, x)].score:.0f}" if ("passkey", method, x) in cells else "—"
            for x in lengths) + " |")
    lines += ["", "Regenerated from the committed predictions by `python scripts/results.py`; what it shows and",
              "what it does not: [results/README.md](results/README.md)."]
    return "\n".join(lines) + "\n"


def regenerate_section(out: Path) -> list[Path]:
    """Write the SmolLM2 section's tables and plots into out/smollm2/; returns the files written."""
    cells, infos = read_smollm2_runs()
    ppl = read_ppl()
    if not cells and not ppl:
        return []
    folder = out / SMOLLM2
    folder.mkdir(parents=True, exist_ok=True)
    tables = section_tables(cells, infos)
    if ppl:
        md, table = ppl_tables(ppl)
        tables["scores.md"] = tables["scores.md"].replace("\n## Runs\n", md + "\n## Runs\n")
        tables["ppl.csv"] = table
    if any(key[0] == "passkey" for key in cells):
        tables["headline.md"] = headline(cells)
    written = []
    for name, text in tables.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    plots = section_plots(cells, folder)
    if ppl:
        from longeval.analysis.ppl_output import plot_ppl

        plot_ppl(ppl, folder / "ppl_vs_length.png",
                 "SmolLM2-135M-Instruct, no fine-tuning: perplexity on the RULER essays")
        plots.append("ppl_vs_length.png")
    return written + [folder / name for name in plots]


def readme_headline(text: str) -> str | None:
    """The block between the headline markers (without them), or None when the README has no markers."""
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if start < 0 or end < start:
        return None
    return text[start + len(HEADLINE_START):end].lstrip("\n")


def with_headline(text: str, headline: str) -> str:
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if start < 0 or end < start:
        raise SystemExit(f"{README}: no {HEADLINE_START} ... {HEADLINE_END} markers for the headline")
    return text[:start + len(HEADLINE_START)] + "\n" + headline + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare a regeneration with results/; write nothing")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the folder to write or check (default: results/)")
    args = parser.parse_args(argv)
    if not args.check:
        for path in regenerate(args.results):
            print(f"wrote {path}")
        headline = args.results / SMOLLM2 / "headline.md"
        if args.results == RESULTS and headline.is_file():
            text = README.read_text(encoding="utf-8")
            README.write_text(with_headline(text, headline.read_text(encoding="utf-8")), encoding="utf-8")
            print(f"wrote the headline into {README}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        regenerate(Path(tmp))
        found = differences(args.results, Path(tmp))
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print("regenerate with: python scripts/results.py", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
