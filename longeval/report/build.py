"""One `longeval report` invocation as a function: collect, add references, tabulate, plot, write the files."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks import Benchmark, ReportSection, all_benchmarks, benchmark_of
from longeval.errors import UserError
from longeval.io import write_atomic
from longeval.report.collect import RunResult, collect_runs, load_single_run
from longeval.report.reference import paper_table, reference_runs
from longeval.report.render import Report, to_csv, to_html, to_markdown
from longeval.report.table import Leaderboard, build_bucket_leaderboard, build_leaderboard, sort_runs
from longeval.tasks import all_tasks, resolve_tasks, suites

FORMATS = ("md", "csv", "html")
RENDERERS = {"md": to_markdown, "csv": to_csv, "html": to_html}
FILE_NAMES = {"md": "leaderboard.md", "csv": "leaderboard.csv", "html": "leaderboard.html"}
LENGTH_PLOT = "macro_vs_length.png"
DELTA_PLOT = "delta_to_baseline.png"


@dataclass
class ReportOptions:
    paths: list[str]
    formats: list[str] = field(default_factory=lambda: list(FORMATS))
    out: str = "longeval-report"
    by: list[str] = field(default_factory=list)
    tasks: str | None = None
    references: list[str] = field(default_factory=list)
    plot: bool = False
    baseline: str | None = None
    short_context: bool = False
    ci: bool = False
    family_options: dict[str, Any] = field(default_factory=dict)  # the families' report options, by dest


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UserError(f"unknown format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}",
                        field="--format")
    return list(dict.fromkeys(formats))


def _task_filter(spec: str | None) -> list[str] | None:
    if spec is None:
        return None
    return list(dict.fromkeys(benchmark_of(task).pred_file_stem(task) for task in resolve_tasks(spec)))


def _warn(message: str) -> None:
    print(f"longeval report: {message}", file=sys.stderr)


def build_report(options: ReportOptions, plot_dir: Path | None = None) -> tuple[Report, list[Path]]:
    """The report and the PNG files written (into plot_dir, when --plot)."""
    tasks = _task_filter(options.tasks)
    runs = sort_runs(collect_runs(options.paths), options.by, tasks)
    baseline_name = _resolve_baseline(options.baseline, runs)
    if options.short_context:
        if options.ci:
            raise UserError("--ci applies to the leaderboard, not to --short-context", field="--ci")
        return _short_context_report(runs, baseline_name, tasks), []
    references = [row for name in dict.fromkeys(options.references) for row in reference_runs(name)]
    main = build_leaderboard(runs + references, tasks)
    buckets = build_bucket_leaderboard(runs, tasks)
    if not len(main.frame) and not len(buckets.frame):
        raise UserError("the runs have no scores to report")
    report = Report(main, buckets, main_title=benchmark_name([t for t in main.tasks if not t.startswith("macro")]),
                    bucket_title=bucket_title(buckets.tasks))
    if options.ci:
        from longeval.report.intervals import compute_intervals

        marks_against = baseline_name or next((run.name for run in runs if run.pred_dir is not None), None)
        report.intervals = compute_intervals(runs + references, tasks, marks_against)
        report.notes.append(report.intervals.legend())
    if references and tasks is None and len(main.tasks) > len(suites()["paper12"]):
        report.notes.append("Published rows cover the paper's 12 tasks only, so their averages cover fewer tasks; "
                            "use --tasks paper12 to compare averages over the same tasks.")
    # Each family's own sections: their text goes into the report, their figures are written with --plot.
    sections = [section for unit in all_benchmarks().values()
                for section in unit.report_sections(runs, options.family_options)]
    report.notes.extend(section.text for section in sections if section.text)
    written: list[Path] = []
    if options.plot and plot_dir is not None:
        written = _plots(options, runs, references, baseline_name, main, report, plot_dir, sections)
    return report, written


def _short_context_report(runs: list[RunResult], baseline: str | None, tasks: list[str] | None) -> Report:
    """The short-context view alone (longeval/report/short.py): 0-4k scores and differences to the baseline."""
    from longeval.report.short import delta_rows, short_rows, title

    rows = short_rows(runs)
    board = build_leaderboard(rows + delta_rows(rows, baseline), tasks)
    report = Report(board, build_bucket_leaderboard([], tasks), main_title=title())
    report.notes.append("Rows named 'run − baseline' are differences in points on the tasks both runs have; near 0 "
                        "means the extended model kept its short-context ability.")
    return report


def _resolve_baseline(baseline: str | None, runs: list[RunResult]) -> str | None:
    """--baseline names a run in the report, or a path to one (then added to the rows)."""
    if baseline is None:
        return None
    if any(run.name == baseline for run in runs):
        return baseline
    if Path(baseline).exists():
        extra = load_single_run(baseline)
        if not any(run.name == extra.name for run in runs):
            runs.insert(0, extra)
        return extra.name
    if baseline.startswith("paper "):
        return baseline  # a published row, checked once the references are added
    raise UserError(f"baseline '{baseline}' is neither a run in the report nor a path "
                    f"(runs: {', '.join(run.name for run in runs)})", field="--baseline")


def _plots(options: ReportOptions, runs: list[RunResult], references: list[RunResult], baseline: str | None,
           main: Leaderboard, report: Report, plot_dir: Path, sections: list[ReportSection]) -> list[Path]:
    from longeval.io import write_bytes_atomic
    from longeval.report.plots import plot_delta_heatmap, plot_macro_vs_length

    written = []
    for section in sections:  # each family's own figures (passkey: length curve, depth map; RULER: average)
        if section.png:
            path = plot_dir / section.file_name
            write_bytes_atomic(path, section.png)
            written.append(path)
            report.images.append((section.title, section.png))
    # The length chart draws the paper's Table 4 when any reference is asked for, and then averages every line
    # over the paper's 12 tasks so that measured and published macros mean the same thing.
    sweep_refs = paper_table("table4") if references else []
    sweep_tasks = suites()["paper12"] if references else _task_filter(options.tasks)
    sweep = build_leaderboard([r for r in runs if r.max_length is not None] + sweep_refs, sweep_tasks)
    path = plot_dir / LENGTH_PLOT
    generated = _generated_tasks(sweep.tasks)
    benchmark = benchmark_name(sweep.tasks)
    # Runs of families that chart their own score against length (passkey), alone: no second chart.
    families = [_family(t) for t in sweep.tasks]
    own_curves = bool(written) and bool(families) and all(f is not None and f.own_length_chart for f in families)
    if not own_curves:
        if plot_macro_vs_length(sweep, path, benchmark=benchmark, truncated=set(sweep.tasks) != set(generated)):
            written.append(path)
            report.images.append((f"{benchmark}: macro score vs context length" + (
                " (dashed: the paper's Table 4)" if sweep_refs else ""), path.read_bytes()))
        else:
            _warn("no run records a max length; macro-vs-length plot skipped")
    measured = [r.name for r in runs if r.scores]
    baseline = baseline or (measured[0] if measured else None)
    if baseline is not None and len(main.frame) > 1:
        path = plot_dir / DELTA_PLOT
        plot_delta_heatmap(main, baseline, path)
        written.append(path)
        report.images.append((f"Per-task difference to baseline '{baseline}' (points)", path.read_bytes()))
    else:
        _warn("one run only; difference heat map skipped")
    return written


def benchmark_name(tasks: list[str]) -> str:
    """What a table or chart of these task columns shows, for its heading: its families' titles."""
    titles = [unit.title or unit.name for unit in all_benchmarks().values()
              if any(_family(t) is unit for t in tasks)]
    return " and ".join(titles) or "Leaderboard"


def bucket_title(tasks: list[str]) -> str:
    """The heading of the bucket table: its families' own (LongBench: "LongBench-E by length bucket")."""
    titles = [unit.bucket_title for unit in all_benchmarks().values()
              if unit.bucket_title and any(_family(t) is unit for t in tasks)]
    return " and ".join(titles) or "By bucket"


def _family(task: str) -> Benchmark | None:
    known = all_tasks().get(task)
    return benchmark_of(known) if known is not None else None


def _generated_tasks(names: list[str]) -> list[str]:
    """The tasks among `names` whose records are generated to fit the prompt (passkey): never truncated."""
    known = all_tasks()
    return [name for name in names if name in known and not benchmark_of(known[name]).needs_data(known[name])]


def write_report(options: ReportOptions) -> list[Path]:
    """Write the requested formats (and plots) and return the files written; `--out -` prints one format."""
    out = options.out
    formats = options.formats
    if out == "-":
        if len(formats) != 1 or options.plot:
            raise UserError("--out - prints one format and no plots; pass e.g. --format md", field="--out")
        report, _ = build_report(options)
        sys.stdout.write(RENDERERS[formats[0]](report))
        return []
    target = Path(out)
    single = target.suffix.lstrip(".").lower() in FORMATS
    if single:
        if len(formats) != 1 or formats[0] != target.suffix.lstrip(".").lower():
            raise UserError(f"--out {out} is one {target.suffix} file; pass --format {target.suffix[1:]} "
                            "or an output folder", field="--out")
        folder = target.parent
    else:
        if target.exists() and not target.is_dir():
            raise UserError("--out must be a folder (or a .md/.csv/.html file)", path=target)
        folder = target
    if (folder / "run.json").is_file() or (folder / "pred").is_dir() or (folder / "result.json").is_file():
        raise UserError("is a run's folder: the report would write among its files; give another --out", path=folder)
    report, written = build_report(options, plot_dir=folder)
    for fmt in formats:
        path = target if single else folder / FILE_NAMES[fmt]
        write_atomic(path, RENDERERS[fmt](report))
        written.append(path)
    sys.stdout.write(to_markdown(report))
    return written
