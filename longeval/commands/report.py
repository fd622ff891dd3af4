"""`longeval report`: many runs -> one leaderboard (markdown, CSV, HTML), optional plots and published rows."""

from __future__ import annotations

import argparse
import sys

# Not results/: that folder is the repository's tracked leaderboard (scripts/results.py writes it).
DEFAULT_OUT = "longeval-report"

HELP = "compare runs: leaderboard tables (md/csv/html), paper reference rows, plots"
DESCRIPTION = """\
Collect runs into one table: a row per run (model, method, max length), a column per task in the
paper's order (NQA, QAPR, MFQA_en, HPQA, WMQA, MSQ, GR, QMSM, MNWS, TREC, TRVQA, SMSM), then the
other tasks, category averages and the macro average. Missing tasks show as "—", never 0; every
average says over how many tasks it is taken, e.g. "macro (12/12)". LongBench-E runs get a table
by length bucket (0-4k, 4-8k, 8k+).

RUN_DIR may be a run folder (run.json + pred/result.json), a pred folder or any folder with an
official result.json (named by the folder), a folder holding several runs, or a CSV written by an
earlier report.

examples:
  longeval report runs/*                              # ./longeval-report/leaderboard.{md,csv,html}
  longeval report runs/ --reference paper --tasks paper12 --plot
  longeval report runs/ --format md --out -           # markdown to stdout only
  longeval report runs/ --plot --baseline llama2-7b   # + heat map of differences to that run
  longeval report runs/ --short-context --baseline base   # extended vs base checkpoint on inputs under 4k
  longeval report runs/ --ci --baseline llama-abf        # + 95% intervals, ▲/▼ where a run differs for real
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="RUN_DIR", help="run folders, result folders, parents, CSVs")
    parser.add_argument("--format", default="md,csv,html", help="comma list of md, csv, html (default: all)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"output folder (default: ./{DEFAULT_OUT}), one .md/.csv/.html file, or - for stdout; "
                        "never a run folder")
    parser.add_argument("--by", default="",
                        help="order rows by these fields, comma list of run, model, method, max_length, macro "
                             "(default: as given; e.g. method,max_length groups each method's length sweep)")
    parser.add_argument("--tasks", help="only these task columns (tasks or suites, e.g. paper12)")
    parser.add_argument("--reference", action="append", default=[], metavar="NAME",
                        help="add published rows: paper (Table 2 of arXiv 2401.07004, 16k) or paper-lengths "
                             "(its Table 4, 4k-32k); repeatable or comma list")
    parser.add_argument("--plot", action="store_true",
                        help="also write macro_vs_length.png and delta_to_baseline.png next to the tables")
    parser.add_argument("--baseline", metavar="RUN",
                        help="run name (or path) the heat map subtracts (default: the first run)")
    parser.add_argument("--short-context", action="store_true",
                        help="only the short-context check: LongBench-E 0-4k scores per run and each run's "
                             "difference to --baseline (the base checkpoint's run)")
    parser.add_argument("--ci", action="store_true",
                        help="each measured score with its 95%% bootstrap interval over the records, and ▲/▼ on "
                        "scores that differ from the baseline run (--baseline, else the first run) by a paired test "
                        "significant after Holm; needs the runs' prediction files")
    parser.add_argument("--threshold", type=float, metavar="POINTS",
                        help="effective length: the longest length whose average stays above this (RULER: default "
                        "85.6, Llama-2-7B-chat's 4k average)")


def run(args: argparse.Namespace) -> int:
    from longeval.report.build import ReportOptions, parse_formats, write_report

    options = ReportOptions(
        paths=args.paths,
        formats=parse_formats(args.format),
        out=args.out,
        by=[f.strip() for f in args.by.split(",") if f.strip()],
        tasks=args.tasks,
        references=[r.strip() for item in args.reference for r in item.split(",") if r.strip()],
        plot=args.plot,
        baseline=args.baseline,
        short_context=args.short_context,
        ci=args.ci,
        family_options={"threshold": args.threshold} if args.threshold is not None else {},
    )
    for path in write_report(options):
        print(f"wrote {path}", file=sys.stderr)
    return 0
