"""`longeval demo`: the whole pipeline offline on a tiny local model and a small generated data set."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run everything offline on a tiny local Llama: data, prompts, 5 methods, scores, comparison table"
DESCRIPTION = HELP + """

Builds (once) a random tiny Llama with a locally trained tokenizer, writes a small LongBench-format data set
longer than the model's 256 positions, runs none / pi / yarn / abf / eabf through vLLM when installed (else
transformers), scores them with the official metrics and prints the leaderboard. A few minutes on 2 CPU cores.
Re-running reuses the model and the finished runs.

examples:
  longeval demo                               # ./longeval-demo/{data,runs,report}
  longeval demo --out /tmp/demo --backend hf  # the transformers backend instead of vLLM
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("longeval-demo"),
                        help="folder for the data, runs and leaderboard (default: ./longeval-demo)")
    parser.add_argument("--cache", type=Path, help="where the tiny model is built "
                        "(default: $LONGEVAL_CACHE or ~/.cache/longeval)")
    parser.add_argument("--backend", choices=("vllm", "hf"), help="engine (default: vllm if installed, else hf)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from longeval.demo import run_demo

    run_demo(args.out, cache=args.cache, backend=args.backend, progress=not args.no_progress)
    return 0
