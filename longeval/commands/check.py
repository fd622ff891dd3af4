"""`longeval check`: the CI gate — exit 1 when a run's scores dropped below a baseline's beyond the allowance."""

from __future__ import annotations

import argparse
import os
import sys

from longeval.commands import significance_level

HELP = "fail (exit 1) when a run regressed against a baseline run or leaderboard CSV"
DESCRIPTION = """\
Compare RUN_DIR with a baseline (a run folder, a folder with result.json, or a CSV written by
`longeval report`). The macro is taken over the tasks both have. Prints a markdown summary and
appends it to $GITHUB_STEP_SUMMARY when that is set.

Scores compare only over the same records: a partial run, a --limit run or one made on other data
(per-task record counts, _ids and data checksums) is refused with the reason, unless --allow-partial.

With --significance ALPHA a drop beyond an allowance fails only if a paired test on the records
(per task Holm-adjusted, the macro on its own; see `longeval compare`) also rejects at ALPHA; the
summary adds each change's (1 - ALPHA) interval and p, and lists the drops it let pass as noise. Both runs
need their prediction files, paired by _id (or by position with the same answers); else exit 2.

exit codes: 0 no regression; 1 macro dropped more than --max-drop points, a task more than
--max-task-drop, or a baseline task is missing from the run; 2 unusable input (a missing or broken
file, an allowance that is negative, infinite or NaN, runs not scored on the same records).

example:
  longeval check runs/new-ckpt --baseline longeval-report/leaderboard.csv --baseline-run last-release --max-drop 0.5
  longeval check runs/new-ckpt --baseline runs/last-release --max-drop 0.5 --significance 0.05
"""


def _points_or_none(text: str) -> float | None:
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected points (a number) or 'none', got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="RUN_DIR", help="the run to judge")
    parser.add_argument("--baseline", required=True, metavar="RUN_OR_CSV", help="run folder, result folder or CSV")
    parser.add_argument("--baseline-run", metavar="NAME", help="which row of a baseline CSV holding several runs")
    parser.add_argument("--max-drop", type=float, default=1.0,
                        help="largest allowed drop of the macro average, in points (default: 1.0)")
    parser.add_argument("--max-task-drop", type=_points_or_none, default=5.0,
                        help="largest allowed drop of any one task, in points, or 'none' (default: 5.0)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="do not fail when the run lacks tasks the baseline has")
    parser.add_argument("--allow-partial", action="store_true",
                        help="compare even when the two were not scored on the same records (partial, --limit, "
                        "other data); the summary lists the differences")
    parser.add_argument("--significance", type=significance_level, metavar="ALPHA",
                        help="fail a drop beyond the allowance only if the paired test on the records rejects at "
                        "ALPHA (e.g. 0.05; tasks Holm-adjusted); needs both runs' prediction files")


def run(args: argparse.Namespace) -> int:
    from longeval.errors import UserError
    from longeval.report.check import check_allowance, compare, summary_markdown, unverifiable
    from longeval.report.collect import collect_runs, load_single_run

    check_allowance(args.max_drop, "--max-drop")  # before any file is read: a flag error is named first
    check_allowance(args.max_task_drop, "--max-task-drop")
    current = load_single_run(args.path)
    candidates = [run for run in collect_runs([args.baseline]) if not run.is_reference or args.baseline_run]
    if args.baseline_run is not None:
        named = [run for run in candidates if run.name == args.baseline_run]
        if not named:
            have = ", ".join(run.name for run in candidates) or "none"
            raise UserError(f"no run named '{args.baseline_run}' in the baseline (it has: {have})",
                            path=args.baseline)
        candidates = named
    if len(candidates) != 1:
        names = ", ".join(run.name for run in candidates) or "none"
        raise UserError(f"baseline holds {len(candidates)} runs ({names}); pick one with --baseline-run",
                        path=args.baseline)
    result = compare(current, candidates[0], max_drop=args.max_drop, max_task_drop=args.max_task_drop,
                     allow_missing=args.allow_missing, allow_partial=args.allow_partial,
                     significance=args.significance)
    for note in unverifiable(current, candidates[0]):
        print(f"longeval check: warning: {note}", file=sys.stderr)
    summary = summary_markdown(result)
    sys.stdout.write(summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(summary + "\n")
        except OSError as exc:
            print(f"longeval check: warning: cannot append to $GITHUB_STEP_SUMMARY ({exc})", file=sys.stderr)
    return 0 if result.passed else 1
