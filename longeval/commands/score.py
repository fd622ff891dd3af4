"""`longeval score DIR [DIR ...] [--e]`: official LongBench scores of prediction folders, written as result.json."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

HELP = "score prediction folders (<task>.jsonl) exactly as LongBench's eval.py; writes DIR/result.json"
DESCRIPTION = """\
Score one or more prediction folders in the official LongBench layout: one <task>.jsonl per task, each line
with "pred", "answers", "all_classes" and "length". Writes DIR/result.json exactly as the official eval.py
(task -> score in points, 2 decimals; with --e, task -> {"0-4k", "4-8k", "8k+"}, NaN for an empty bucket) and
prints a table of tasks x folders. Every folder is checked before any result.json is written.
Files whose name is not a LongBench task are reported and skipped.
LongBench v2: a run's longbench_v2*.jsonl, or the official pred.py outputs (<model>.jsonl, <model>_cot.jsonl,
...: lines with the item's fields and response) score as result.py does: {overall, easy, hard, short, medium,
long} in points rounded to 0.1, with counts under "details"; pred/judge are recomputed from each response.

examples:
  longeval score runs/llama-eabf/pred runs/llama-yarn/pred
  longeval score LongBench/results --compensated
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", nargs="+", metavar="DIR", help="prediction folder(s) with <task>.jsonl files")
    parser.add_argument("--e", action="store_true",
                        help="LongBench-E: score per length bucket (0-4k, 4-8k, 8k+) by each line's 'length'")
    parser.add_argument("--compensated", action="store_true",
                        help="LongBench v2: an answer with no parsable letter counts 0.25 (result.py's "
                             "`compensated` switch) instead of 0")


def _cell(value: Any) -> str:
    if isinstance(value, dict):  # buckets; a family's details (a nested dict) are not cells
        return "/".join(_cell(v) for v in value.values() if not isinstance(v, dict))
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def format_table(names: list[str], results: list[dict[str, Any]], *, e: bool = False) -> str:
    """Tasks (registry order, then others) as rows, folders as columns."""
    from longeval.tasks import all_tasks

    known = list(all_tasks())
    present = {task for result in results for task in result}
    rows = [t for t in known if t in present] + sorted(present.difference(known))
    cells = [[_cell(result[task]) if task in result else "" for result in results] for task in rows]
    task_width = max([len("task"), *map(len, rows)])
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]
    header = f"{'task':<{task_width}}  " + "  ".join(f"{name:>{w}}" for name, w in zip(names, widths, strict=True))
    lines = [header, "-" * len(header)]
    for task, row in zip(rows, cells, strict=True):
        lines.append(f"{task:<{task_width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(row, widths, strict=True)))
    # one legend per bucket layout (LongBench-E: 0-4k/4-8k/8k+; LongBench v2: overall/easy/.../long)
    layouts = dict.fromkeys("/".join(key for key, value in entry.items() if not isinstance(value, dict))
                            for result in results for entry in result.values() if isinstance(entry, dict))
    for layout in layouts:
        lines.append(f"(cells: {layout}; - = no sample in that bucket)")
    return "\n".join(lines)


def _column_names(folders: list[Any]) -> list[str]:
    """Short column names: the folder name, or parent/name when a run keeps predictions in <run>/pred."""
    names = [f.name if f.name != "pred" else f"{f.parent.name}/{f.name}" for f in folders]
    return [str(f) for f in folders] if len(set(names)) < len(names) else names


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from longeval.benchmarks import all_benchmarks
    from longeval.scoring import read_prediction_folder, score_loaded_folder, write_result

    units = all_benchmarks().values()
    for unit in units:
        unit.configure_scoring(compensated=args.compensated)
    try:
        # Validate every folder before writing anything: bad input leaves no (new) result.json behind.
        loaded = [read_prediction_folder(Path(folder), e=args.e) for folder in args.folders]
        for folder in loaded:
            for path in folder.skipped:
                print(f"longeval score: skipped {path}: not a LongBench task name", file=sys.stderr)
        results = [score_loaded_folder(folder, e=args.e, progress=True) for folder in loaded]
        for folder, result in zip(loaded, results, strict=True):
            path = write_result(folder.path, result)
            print(f"wrote {path}", file=sys.stderr)
    finally:  # the units outlive the command (library use, tests): back to the defaults
        for unit in units:
            unit.configure_scoring()
    print(format_table(_column_names([f.path for f in loaded]), results, e=args.e))
    return 0
