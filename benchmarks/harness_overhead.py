"""How much of a run is longeval's own work (data, tokenizing, truncating, writing, scoring) vs the engine's.

Runs the demo (tiny model, 4 tasks x 6 records, methods none/pi/yarn/abf/eabf) into a fresh folder and adds up
the per-phase seconds each run records in run.json `timing`:
  harness = load_data + load_tokenizer + tokenize (template, official truncation, chat wrapper) + write + score
  engine  = engine_load + generate
The tiny model makes the engine as fast as it can be, so this is an upper bound on the harness's share.

usage: python benchmarks/harness_overhead.py [--backend hf|vllm] [--records N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

HARNESS = ("load_data", "load_tokenizer", "tokenize", "write", "score")
ENGINE = ("engine_load", "generate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("hf", "vllm"), help="default: vllm if installed, else hf")
    parser.add_argument("--records", type=int, default=6, help="records per task (default 6, as the demo)")
    parser.add_argument("--keep", type=Path, help="write the demo here instead of a temporary folder")
    args = parser.parse_args()

    from longeval.demo import RECORDS_PER_TASK, run_demo

    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch) / "demo"
        started = time.perf_counter()
        run_demo(out, backend=args.backend, records=args.records or RECORDS_PER_TASK, progress=False,
                 echo=lambda _line: None)
        wall = time.perf_counter() - started
        rows = []
        for run_json in sorted((out / "runs").glob("*/run.json")):
            info = json.loads(run_json.read_text())
            timing = info["timing"]
            rows.append((info["run_name"], info["backend"]["name"], sum(timing.get(k, 0.0) for k in HARNESS),
                         sum(timing.get(k, 0.0) for k in ENGINE), timing, info["tokens"]))

    print(f"{'run':<18}{'backend':<9}{'harness s':>10}{'engine s':>10}{'share':>8}  harness phases (s)")
    for name, backend, harness, engine, timing, _tokens in rows:
        phases = ", ".join(f"{k} {timing.get(k, 0.0):.3f}" for k in HARNESS)
        print(f"{name:<18}{backend:<9}{harness:>10.3f}{engine:>10.2f}{harness / (harness + engine):>8.1%}  {phases}")
    harness_total = sum(r[2] for r in rows)
    engine_total = sum(r[3] for r in rows)
    prompt_tokens = sum(r[5]["prompt"] for r in rows)
    print(f"{'all runs':<27}{harness_total:>10.3f}{engine_total:>10.2f}"
          f"{harness_total / (harness_total + engine_total):>8.1%}")
    print(f"prompt tokens built: {prompt_tokens}; demo wall time {wall:.1f} s "
          f"(incl. imports and the tiny model build/reuse)")


if __name__ == "__main__":
    main()
