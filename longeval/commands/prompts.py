"""`longeval prompts`: write the exact prompts a run would send, without running a model."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the exact prompts a run would send (official truncation and chat wrapping) as JSON lines"
DESCRIPTION = HELP + """

Each line: _id, task, prompt (the final text), n_tokens (token ids sent to the engine), truncated.

examples:
  longeval prompts --tasks trec --data ./data.zip --tokenizer ./llama-2-7b-chat --max-length 3500 --out trec.jsonl
  longeval prompts --tasks paper12 --data ./data.zip --tokenizer ./ckpt --limit 1 --out - | head -c 2000
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", required=True, help="suite or comma list of tasks")
    parser.add_argument("--data", default="hub", help="LongBench data: folder, data.zip or 'hub'")
    parser.add_argument("--tokenizer", "--model", dest="tokenizer", required=True,
                        help="model or tokenizer folder, or a .gguf file (converted once into the longeval cache)")
    parser.add_argument("--max-length", type=int, help="prompt budget in tokens (default: the model's context "
                        "window minus the task's answer tokens; needs config.json in the --tokenizer folder)")
    parser.add_argument("--method", help="method SPEC whose context window sets the default max length")
    parser.add_argument("--chat-template", default="auto", choices=("auto", "hf", "llama2", "none"),
                        help="chat wrapper (auto: hf when the tokenizer has a chat template)")
    parser.add_argument("--limit", type=int, help="only the first K records of each task")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the tasks' benchmark family (as `longeval run --option`)")
    parser.add_argument("--out", required=True, help="output .jsonl file, or - for stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    from longeval.benchmarks import add_option_flags

    add_option_flags(parser)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from tqdm import tqdm

    from longeval.benchmarks import benchmark_of, option_flags, parse_options
    from longeval.checkpoint import resolve_checkpoint
    from longeval.errors import UserError
    from longeval.io import write_atomic
    from longeval.prompts import load_tokenizer, resolve_chat_wrapper
    from longeval.runs.inputs import check_options, open_task_data
    from longeval.tasks import resolve_tasks

    tasks = resolve_tasks(args.tasks)
    family_options = check_options({**parse_options(args.option), **option_flags(args)}, tasks)
    if args.max_length is not None and args.max_length < 2:
        raise UserError(f"--max-length must be at least 2, got {args.max_length}")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    args.tokenizer = str(resolve_checkpoint(args.tokenizer).folder)
    window = 0
    if args.max_length is None:
        from longeval.runner import context_window, read_model_config, resolve_method

        if not (Path(args.tokenizer) / "config.json").is_file():
            raise UserError("no config.json to take the context window from: give --max-length",
                            path=args.tokenizer)
        _, config, _ = read_model_config(args.tokenizer)
        window = context_window(config, resolve_method(args.method, config))
    source = open_task_data(tasks, args.data)
    tokenizer = load_tokenizer(args.tokenizer)
    wrapper = resolve_chat_wrapper(args.chat_template, tokenizer)
    lines, truncated = [], 0
    for task in tasks:
        unit = benchmark_of(task)
        budget, _ = unit.prompt_budget(task, tokenizer, wrapper, window, args.max_length)
        records = unit.load_records(task, source, args.limit,
                                    tokenizer=tokenizer, budget=budget,  # generated: fills budget
                                    options={**family_options[task.benchmark], "chat_wrapper": wrapper})
        for record in tqdm(records, desc=task.name, unit="prompt", disable=args.no_progress, dynamic_ncols=True):
            prompt = unit.build_prompt(task, record, tokenizer, budget, wrapper)
            truncated += prompt.truncated
            lines.append(json.dumps({"_id": prompt.id, "task": task.name, "prompt": prompt.text,
                                     "n_tokens": len(prompt.token_ids), "truncated": prompt.truncated},
                                    ensure_ascii=False) + "\n")
    summary = f"{len(lines)} prompts ({wrapper} chat wrapper, {truncated} truncated) -> {args.out}"
    if args.out == "-":  # the prompts are the output; the summary must not mix into them
        sys.stdout.write("".join(lines))
        print(summary.replace("-> -", "-> stdout"), file=sys.stderr)
    else:
        write_atomic(args.out, "".join(lines))
        print(summary)
    return 0
