"""`longeval run`: evaluate a checkpoint with a context-extension method on LongBench tasks (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from longeval.errors import UserError
from longeval.runs.record import RunRecord

HELP = "run LongBench tasks on a checkpoint with a method: pred/<task>.jsonl, result.json, run.json (resumable)"
DESCRIPTION = HELP + """

Prompts, truncation and chat wrapping follow the official LongBench pred.py. Re-running the same command resumes:
finished records are skipped. Other settings, other weights or other data into the same run folder are refused,
and so is a second process writing it. --max-length 4096,8192,16384 makes one run per length (a context-length
sweep), sharing one engine across the lengths unless the method is dynamic-ntk.

A grid: comma lists of --model and --max-length and a repeated --method make one run per combination (cell),
each the run folder a single run would write; a failing cell does not stop the others, and a summary ends the
output. --ray runs the cells as Ray tasks (on the cluster `ray start` made, else a local Ray instance).

examples:
  longeval run --model ./ckpt --method yarn:factor=4 --tasks paper12 --data ./LongBench/data.zip \\
      --max-length 15500 --backend vllm --out runs
  longeval run --model ./ckpt-a,./ckpt-b --method pi:factor=4 --method yarn:factor=4 --tasks paper12 \\
      --max-length 8192,15500 --data ./LongBench/data.zip --out /shared/runs --ray
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="local checkpoint folder (config.json, weights, tokenizer), "
                        "or a .gguf file (or a folder holding one), converted once into a cached one; "
                        "a comma list makes a grid")
    parser.add_argument("--method", action="append", help="context-extension method SPEC, e.g. yarn:factor=4, "
                        "eabf, none (default: what the checkpoint's config carries; see `longeval methods`); "
                        "repeat it for a grid")
    parser.add_argument("--tasks", required=True, help="suite or comma list of tasks (see `longeval tasks`)")
    parser.add_argument("--data", default="hub",
                        help="LongBench data: a folder (data/<task>.jsonl), the official data.zip, or 'hub' "
                        "(download data.zip of THUDM/LongBench into the Hugging Face cache; default)")
    parser.add_argument("--max-length", help="prompt budget in tokens (middle truncation beyond it); a comma list "
                        "runs once per length (default: context window minus the task's answer tokens)")
    from longeval.backends import BACKENDS

    parser.add_argument("--backend", choices=tuple(BACKENDS), help="inference engine (default: vllm if installed; "
                        "echo = a fake engine that repeats the prompt's tail, for dry runs; openai = a served "
                        "model at --base-url)")
    parser.add_argument("--out", default="runs", type=Path, help="folder holding run folders (default: runs)")
    parser.add_argument("--run-name", help="run folder name "
                        "(default: <model>-<hash of its path>_<method>_<max length>)")
    parser.add_argument("--limit", type=int, help="only the first K records of each task")
    parser.add_argument("--chat-template", default="auto", choices=("auto", "hf", "llama2", "none"),
                        help="chat wrapper for the tasks that take one: hf = the tokenizer's chat template, "
                        "llama2 = official [INST]...[/INST], none; auto = hf when the tokenizer has one")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per engine call (default: 16)")
    parser.add_argument("--write-every", type=int, help="predictions made durable together (fsync); a kill loses at "
                        "most these (default: each engine batch)")
    parser.add_argument("--dtype", default="auto", help="model dtype: auto, bfloat16, float16, float32")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the tasks' benchmark family (repeatable; each family documents its own, "
                             "e.g. a data path or a seed); recorded in run.json's settings")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars, and no engine log lines below WARNING (the engines log to stderr)")
    served = parser.add_argument_group("served model (--backend openai; start the server with `longeval serve`)")
    served.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    served.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the server's API key")
    served.add_argument("--concurrency", type=int, metavar="N",
                        help="requests in flight (default: 8; at most --batch-size)")
    served.add_argument("--retries", type=int, metavar="N",
                        help="tries after a failed request (429, 5xx, timeout), with exponential backoff (default: 6)")
    from longeval.benchmarks import add_option_flags

    add_option_flags(parser)
    scale = parser.add_argument_group("scaling out (see the README's \"scaling out\" section)")
    scale.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                       help="run each grid cell as a Ray task: on the cluster at ADDRESS (HOST:PORT), or without "
                       "ADDRESS on the one `ray start` made on this machine (or RAY_ADDRESS), else a local instance; "
                       "'local' always starts a local instance")
    scale.add_argument("--data-parallel-size", type=int, metavar="N",
                       help="split each run's prompts over N engines (Ray actors, one engine each)")
    scale.add_argument("--tensor-parallel-size", type=int, metavar="N", help="vLLM: GPUs per model (default 1)")
    scale.add_argument("--pipeline-parallel-size", type=int, metavar="N", help="vLLM: pipeline stages (default 1)")
    scale.add_argument("--distributed-executor-backend", choices=("ray", "mp", "uni"),
                       help="vLLM: how one engine's workers run (ray: across the nodes of a Ray cluster)")
    scale.add_argument("--gpu-memory-utilization", type=float, metavar="F",
                       help="vLLM: share of GPU memory (default 0.9)")
    scale.add_argument("--max-num-seqs", type=int, metavar="N", help="vLLM: sequences scheduled at once")
    scale.add_argument("--enable-prefix-caching", action="store_true", default=None,
                       help="vLLM: reuse the KV cache of shared prompt prefixes")
    scale.add_argument("--temperature", type=float, metavar="T",
                       help="vLLM: sample at temperature T instead of greedy decoding (LongBench v2's official "
                            "setting is 0.1); recorded in run.json and part of the run's identity")
    scale.add_argument("--seed", type=int, metavar="S", help="vLLM: the sampling seed (each request is seeded with "
                       "it, so a resumed run samples as an uninterrupted one would; default 0)")
    scale.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="vLLM: any other EngineArgs field, e.g. max_num_batched_tokens=8192 (repeatable)")


def run(args: argparse.Namespace) -> int:
    from longeval.backends import default_backend
    from longeval.backends.options import check_backend_takes, parse_engine_args
    from longeval.benchmarks import option_flags, parse_options
    from longeval.grid import plan_cells, split_list
    from longeval.runner import RunRequest, run_sweep

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.write_every is not None and args.write_every < 1:
        raise UserError(f"--write-every must be at least 1, got {args.write_every}")
    # Checked here, before any run folder exists (an engine would refuse them only once the run had started).
    for flag in ("tensor_parallel_size", "pipeline_parallel_size", "max_num_seqs", "data_parallel_size"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.gpu_memory_utilization is not None and not 0 < args.gpu_memory_utilization <= 1:
        raise UserError(f"--gpu-memory-utilization is a share of the GPU's memory, in (0, 1], got "
                        f"{args.gpu_memory_utilization:g}")
    lengths = parse_max_lengths(args.max_length)
    from longeval.engine_logs import route_engine_logs

    route_engine_logs(quiet=True)  # engine INFO lines only when asked for: VLLM_LOGGING_LEVEL=INFO
    backend = args.backend or default_backend()
    options = engine_options(args)
    check_backend_takes(backend, {**options, "engine_args": args.engine_arg})
    if args.engine_arg:
        options["engine_args"] = parse_engine_args(args.engine_arg)
    base = RunRequest(
        model=args.model, tasks=args.tasks, data=args.data, out=args.out, backend=backend, limit=args.limit,
        run_name=args.run_name, chat_template=args.chat_template, batch_size=args.batch_size,
        write_every=args.write_every, dtype=args.dtype, progress=not args.no_progress, backend_options=options,
        benchmark_options={**parse_options(args.option), **option_flags(args)},
    )
    models, methods = [str(m) for m in split_list(args.model, "--model")], args.method or [None]
    cells = plan_cells(base, models, methods, lengths)
    if args.ray is None and len(models) == 1 and len(methods) == 1:
        # One run or a length sweep of one method: one engine for every length (not for dynamic-ntk, whose RoPE
        # depends on the length: runs.engines decides).
        outcomes = run_sweep(cells, on_result=lambda outcome: print(outcome_line(outcome.folder, outcome.record)))
        print()
        print(score_table([o.folder.name for o in outcomes], [o.result for o in outcomes]))
        return 0
    return run_grid(cells, args.ray)


def engine_options(args: argparse.Namespace) -> dict:
    """The engine options the user set (None: not given, the engine's default holds)."""
    from longeval.backends.options import OPTIONS

    keys = [option.key for option in OPTIONS if option.key != "engine_args"]
    return {key: getattr(args, key) for key in keys if getattr(args, key) is not None}


def run_grid(cells: list, ray_address: str | None) -> int:
    """Every cell, in this process or as Ray tasks; the summary; 0 when every cell ran."""
    from longeval.grid import cell_label, check_cells, exit_code, run_on_ray, run_sequential, summary_table

    check_cells(cells)
    print(f"grid: {len(cells)} runs" + (" as Ray tasks" if ray_address is not None else ""), flush=True)

    def report(outcome) -> None:
        if outcome.status == "failed":
            print(f"{cell_label(outcome.request)}: failed: {outcome.error}", flush=True)
        else:
            print(outcome_line(outcome.folder, outcome.record), flush=True)

    if ray_address is None:
        outcomes = run_sequential(cells, report)
    else:
        outcomes = run_on_ray(cells, None if ray_address == "auto" else ray_address, report)
    print()
    print(summary_table(outcomes))
    ran = [o for o in outcomes if o.folder is not None and o.result is not None]
    if ran:
        print()
        print(score_table([o.folder.name for o in ran if o.folder], [o.result for o in ran]))
    return exit_code(outcomes)


def score_table(names: list, results: list) -> str:
    from longeval.commands.score import format_table

    return format_table(names, results, e=any(isinstance(v, dict) for result in results for v in result.values()))


def outcome_line(folder: Path, record: RunRecord | dict) -> str:
    """Where the scores are, or how far a run got and how to finish it (from run.json, typed or as read)."""
    from longeval.runs.folder import RunFolderView

    view = RunFolderView(folder)
    if not isinstance(record, RunRecord):
        record = RunRecord.from_json(record, view.run_json)
    counts = record.records.values()
    done, total = sum(c.done for c in counts), sum(c.total for c in counts)
    if record.status == "complete":
        return f"{folder}: complete, {done} predictions; scores in {view.result_json}"
    return f"{folder}: partial, {done} of {total} predictions; run the same command again to resume"


def parse_max_lengths(text: str | None) -> list[int | None]:
    """'4096,8192' -> [4096, 8192]; None -> [None] (the model's own window)."""
    if text is None:
        return [None]
    values: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 2:
            raise UserError(f"--max-length takes token counts of at least 2 (middle truncation keeps one token from "
                            f"each end), separated by commas; got '{text}'")
        values.append(int(part))
    return values
