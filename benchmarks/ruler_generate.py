"""RULER record generation speed: every task x --samples records at each --lengths, first with an empty cache
(the generators: RULER's binary search and per-sample tokenisation on the model's tokenizer), then again from the
cache (what a second run, another method or a resumed run pays). The anchor: regenerating RULER's data takes
~15 minutes per run with RULER's own scripts, which have no cache (tenstorrent/tt-inference-server#706).

usage: python benchmarks/ruler_generate.py --tokenizer DIR [--lengths 4096,16384,65536] [--samples 100]
           [--tasks ruler-offline] [--essays PATH] [--qa squad=FILE,hotpotqa=FILE] [--cache DIR]
The essay tasks need --essays (e.g. ../shared/reference/ruler/essays); without it they are left out. Prints one
line per (task, length) and the totals; the cache goes to a fresh temporary folder unless --cache is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="model or tokenizer folder")
    parser.add_argument("--lengths", default="4096,16384,65536")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--tasks", default="ruler-offline", help="suite or comma list of RULER tasks")
    parser.add_argument("--essays", help="the essay haystack (file or folder)")
    parser.add_argument("--qa", help="squad=FILE,hotpotqa=FILE")
    parser.add_argument("--cache", type=Path, help="cache folder (default: a fresh temporary one)")
    args = parser.parse_args(argv)

    from longeval.benchmarks.ruler.cache import RecordCache
    from longeval.benchmarks.ruler.generate import task_records
    from longeval.benchmarks.ruler.inputs import RulerInputs
    from longeval.benchmarks.ruler.unit import definition
    from longeval.prompts import load_tokenizer
    from longeval.tasks import resolve_tasks

    tokenizer = load_tokenizer(args.tokenizer)
    inputs = RulerInputs.from_options(args.essays, args.qa)
    tasks = [definition(t) for t in resolve_tasks(args.tasks)]
    skipped = [t.name for t in tasks if inputs.missing(t)]
    tasks = [t for t in tasks if not inputs.missing(t)]
    if skipped:
        print(f"left out (inputs not given): {', '.join(skipped)}", file=sys.stderr)
    lengths = [int(x) for x in args.lengths.split(",")]
    root = args.cache or Path(tempfile.mkdtemp(prefix="ruler-cache-"))
    totals = {"first": 0.0, "cached": 0.0}
    print(f"{len(tasks)} tasks x {args.samples} records at {lengths}, cache {root}")
    for length in lengths:
        for task in tasks:
            row = []
            for phase in ("first", "cached"):
                cache = RecordCache(root)
                started = time.perf_counter()
                records = task_records(task, tokenizer, length, num_samples=args.samples, inputs=inputs, cache=cache)
                seconds = time.perf_counter() - started
                totals[phase] += seconds
                row.append(f"{phase} {seconds:7.2f} s ({'hit' if cache.hits else 'generated'})")
            fill = sum(r["length"] for r in records) / len(records) / length
            print(f"{task.name:24} {length:6}  " + "  ".join(row) + f"  mean fill {fill:.3f}", flush=True)
    print(f"total: first {totals['first']:.1f} s, cached {totals['cached']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
