"""`longeval compare BASE CANDIDATE ...`: paired deltas, bootstrap intervals and p-values per task (compare.json)."""

from __future__ import annotations

import argparse
import sys

from longeval.commands import significance_level

HELP = "is a difference real? paired per-task deltas, bootstrap CIs and p-values of runs against a base run"
DESCRIPTION = """\
Compare each CANDIDATE with BASE on the records both were scored on (a paired design): per task the
number of records, both official scores, the delta (candidate - base, in points), its paired bootstrap
percentile interval, a two-sided p-value (exact McNemar for tasks scored 0/1 per record such as passkey,
else a paired sign-flip randomization test) and that p Holm-adjusted over the tasks, the records that
went each way, and the minimum detectable effect (80% power). A macro row gives the delta of the macro
averages with a stratified bootstrap interval and stratified sign-flip p.

BASE and CANDIDATE are run folders (run.json + pred/), pred folders, or official prediction folders
(<task>.jsonl). Records pair by _id; files without _id (official pred.py output) pair by position only
when both have the same count and the same answers on every line, otherwise the command refuses.

Writes compare.json, compare.md, compare.csv, compare.html into --out and prints the markdown.
Deterministic for a --seed.

examples:
  longeval compare runs/llama-abf runs/llama-eabf runs/llama-yarn --tasks paper12
  longeval compare base/pred cand/pred --format json --out -
"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from longeval.report.defaults import DEFAULT_ALPHA, DEFAULT_RESAMPLES, DEFAULT_SEED

    parser.add_argument("base", metavar="BASE", help="the run the others are compared with")
    parser.add_argument("candidates", nargs="+", metavar="CANDIDATE", help="one or more runs to compare with BASE")
    parser.add_argument("--tasks", help="only these tasks (comma list of tasks or suites, e.g. paper12)")
    parser.add_argument("--resamples", type=_positive, default=DEFAULT_RESAMPLES,
                        help=f"bootstrap resamples and sign flips per task (default: {DEFAULT_RESAMPLES:,})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})")
    parser.add_argument("--alpha", type=significance_level, default=DEFAULT_ALPHA,
                        help=f"1 - confidence level of the intervals, and the significance level (default: "
                        f"{DEFAULT_ALPHA:g})")
    parser.add_argument("--format", default="md,csv,json,html",
                        help="comma list of md, csv, json, html (default: all)")
    parser.add_argument("--out", default="compare", help="output folder (default: compare), or - to print one "
                        "format to stdout")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from longeval.benchmarks import benchmark_of
    from longeval.errors import UserError
    from longeval.io import write_atomic
    from longeval.report.comparison import FILE_NAMES, FORMATS, RENDERERS, build_document, to_markdown
    from longeval.report.records import read_run, stale_scores
    from longeval.tasks import resolve_tasks

    formats = list(dict.fromkeys(f.strip().lower() for f in args.format.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UserError(f"unknown format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}",
                        field="--format")
    if args.out == "-" and len(formats) != 1:
        raise UserError("--out - prints one format; pass e.g. --format json", field="--out")
    tasks = (list(dict.fromkeys(benchmark_of(t).pred_file_stem(t) for t in resolve_tasks(args.tasks)))
             if args.tasks else None)
    paths = [args.base, *args.candidates]
    runs = [read_run(path, tasks) for path in tqdm(paths, desc="scoring records", unit="run", disable=None,
                                                    leave=False)]
    seen: dict[str, int] = {}
    for run in runs:  # two folders of one name: number them, so that the tables tell them apart
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.name = f"{run.name}#{seen[run.name]}"
    for run in runs:
        for message in stale_scores(run):
            print(f"longeval compare: warning: {message}", file=sys.stderr)
    for run in runs[1:]:  # a task one of the two lacks is not compared: say so rather than drop it silently
        unpaired = sorted(set(runs[0].entries) ^ set(run.entries))
        if unpaired:
            print(f"longeval compare: warning: not in both '{runs[0].name}' and '{run.name}', not compared: "
                  f"{', '.join(unpaired)}", file=sys.stderr)
    doc = build_document(runs[0], runs[1:], resamples=args.resamples, seed=args.seed, alpha=args.alpha)
    if args.out == "-":
        sys.stdout.write(RENDERERS[formats[0]](doc))
        return 0
    for fmt in formats:
        path = Path(args.out) / FILE_NAMES[fmt]
        write_atomic(path, RENDERERS[fmt](doc))
        print(f"wrote {path}", file=sys.stderr)
    sys.stdout.write(to_markdown(doc))
    return 0
