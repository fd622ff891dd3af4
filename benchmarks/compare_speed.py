"""Speed of the paired statistics behind `longeval compare`, `report --ci` and `check --significance`.

Two measurements, each the best of --repeat runs:
1. the statistics alone (longeval.report.stats.compare_paired): 10,000 bootstrap resamples and 10,000 sign flips
   per task, on 12 tasks x 200 records and 21 tasks x 200 records of simulated per-record scores (one candidate
   against one base); also checks that a seed gives the same numbers twice;
2. the whole command, `longeval compare` of two real prediction folders (21 tasks, 4,750 records each: reading,
   official per-record scoring, pairing, statistics, four output files), when the real-preds archives are present.

    python benchmarks/compare_speed.py [--repeat N] [--resamples R]
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL_PREDS = ROOT / "tests" / "fixtures" / "real-preds"


def simulated(tasks: int, records: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """Per-record scores in [0, 1] for a base and a slightly better candidate; every third task scored 0/1."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for t in range(tasks):
        base = rng.random(records)
        candidate = np.clip(base + rng.normal(0.02, 0.2, records), 0, 1)
        if t % 3 == 0:
            base, candidate = (base > 0.5).astype(float), (candidate > 0.5).astype(float)
        pairs[f"task{t}"] = (base, candidate, t % 3 == 0)
    return pairs


def best_of(repeat: int, job) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from longeval.report.stats import compare_paired

    for tasks in (12, 21):
        pairs = simulated(tasks, 200)
        seconds = best_of(args.repeat, lambda pairs=pairs: compare_paired(pairs, resamples=args.resamples, seed=0))
        same = compare_paired(pairs, resamples=args.resamples, seed=0) == compare_paired(
            pairs, resamples=args.resamples, seed=0)
        print(f"statistics: {tasks} tasks x 200 records, {args.resamples:,} resamples + sign flips: "
              f"{seconds:.3f} s (deterministic for a seed: {same})")

    archives = [REAL_PREDS / f"{model}.tar.xz" for model in ("llama3-8b", "llama3-8b-quest-128")]
    if not all(path.is_file() for path in archives):
        print("real prediction archives not found: end-to-end timing skipped")
        return 0
    from longeval.cli import main as longeval

    with tempfile.TemporaryDirectory() as tmp:
        for archive in archives:
            with tarfile.open(archive) as handle:
                handle.extractall(tmp, filter="data")
        folders = [str(Path(tmp) / path.name.removesuffix(".tar.xz")) for path in archives]
        out = str(Path(tmp) / "out")

        def command() -> None:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                assert longeval(["compare", *folders, "--out", out, "--resamples", str(args.resamples)]) == 0

        seconds = best_of(args.repeat, command)
    print(f"longeval compare: 2 real folders x 21 tasks (4,750 records each), {args.resamples:,} resamples: "
          f"{seconds:.2f} s (including the official per-record scoring)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
