"""`longeval run`: evaluate a checkpoint with a context-extension method on LongBench tasks (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run LongBench tasks on a checkpoint with a method: pred/<task>.jsonl, result.json, run.json (resumable)"
DESCRIPTION = HELP + """

Prompts, truncation and chat wrapping follow the official LongBench pred.py. Re-running the same command resumes:
finished records are skipped. A different command into the same run folder is refused.
--max-length 4096,8192,16384 makes one run per length (a context-length sweep).

example:
  longeval run --model ./ckpt --method yarn:factor=4 --tasks paper12 --data ./LongBench/data.zip \\
      --max-length 15500 --backend vllm --out runs
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="local checkpoint folder (config.json, weights, tokenizer)")
    parser.add_argument("--method", help="context-extension method SPEC, e.g. yarn:factor=4, eabf, none "
                        "(default: what the checkpoint's config carries; see `longeval methods`)")
    parser.add_argument("--tasks", required=True, help="suite or comma list of tasks (see `longeval tasks`)")
    parser.add_argument("--data", default="hub",
                        help="LongBench data: a folder (data/<task>.jsonl), the official data.zip, or 'hub' "
                        "(download data.zip of THUDM/LongBench into the Hugging Face cache; default)")
    parser.add_argument("--max-length", help="prompt budget in tokens (middle truncation beyond it); a comma list "
                        "runs once per length (default: context window minus the task's answer tokens)")
    from longeval.backends import BACKENDS

    parser.add_argument("--backend", choices=tuple(BACKENDS), help="inference engine (default: vllm if installed; "
                        "echo = a fake engine that repeats the prompt's tail, for dry runs)")
    parser.add_argument("--out", default="runs", type=Path, help="folder holding run folders (default: runs)")
    parser.add_argument("--run-name", help="run folder name (default: <model>_<method>_<max length>)")
    parser.add_argument("--limit", type=int, help="only the first K records of each task")
    parser.add_argument("--chat-template", default="auto", choices=("auto", "hf", "llama2", "none"),
                        help="chat wrapper for the tasks that take one: hf = the tokenizer's chat template, "
                        "llama2 = official [INST]...[/INST], none; auto = hf when the tokenizer has one")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per engine call (default: 16)")
    parser.add_argument("--write-every", type=int, help="predictions made durable together (fsync); a kill loses at "
                        "most these (default: each engine batch)")
    parser.add_argument("--dtype", default="auto", help="model dtype: auto, bfloat16, float16, float32")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vLLM: GPUs per model")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vLLM: share of GPU memory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from longeval.backends import default_backend
    from longeval.errors import UserError
    from longeval.runner import RunRequest, parse_max_lengths, run_sweep

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.write_every is not None and args.write_every < 1:
        raise UserError(f"--write-every must be at least 1, got {args.write_every}")
    lengths = parse_max_lengths(args.max_length)
    backend = args.backend or default_backend()
    requests = []
    for length in lengths:
        name = args.run_name
        if name and len(lengths) > 1:
            name = f"{name}_{length}"
        requests.append(RunRequest(
            model=args.model, method=args.method, tasks=args.tasks, data=args.data, out=args.out,
            max_length=length, backend=backend, limit=args.limit, run_name=name, chat_template=args.chat_template,
            batch_size=args.batch_size, write_every=args.write_every, dtype=args.dtype, progress=not args.no_progress,
            backend_options={"tensor_parallel_size": args.tensor_parallel_size,
                             "gpu_memory_utilization": args.gpu_memory_utilization},
        ))
    # A sweep of one method shares one engine across its lengths (except dynamic-ntk, whose RoPE is per length).
    outcomes = run_sweep(requests, on_result=lambda outcome: print(outcome_line(outcome.folder, outcome.info)))
    from longeval.commands.score import format_table

    print()
    print(format_table([o.folder.name for o in outcomes], [o.result for o in outcomes],
                       e=any(o.info.get("longbench_e") for o in outcomes)))
    return 0


def outcome_line(folder: Path, info: dict) -> str:
    """Where the scores are, or how far a run got and how to finish it."""
    counts = info.get("records", {}).values()
    done, total = sum(c["done"] for c in counts), sum(c["total"] for c in counts)
    if info.get("status") == "complete":
        return f"{folder}: complete, {done} predictions; scores in {folder / 'pred' / 'result.json'}"
    return f"{folder}: partial, {done} of {total} predictions; run the same command again to resume"
