"""`longeval finetune`: the entropy-aware ABF paper's 100-sample SFT recipe -> an extended checkpoint."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

from longeval.errors import UserError

HELP = "fine-tune a base checkpoint with a method applied (the EABF paper's SFT recipe) -> extended checkpoint"
DESCRIPTION = HELP + """

The recipe of arXiv 2401.07004 (Appendix A): the method's config written into the model (as `extend` does; EABF
trains with its query scale exactly as it is evaluated), supervised fine-tuning on ShareGPT-style conversations
with the loss on response tokens only, AdamW (0.9, 0.95), weight decay 0.1, cosine schedule, peak LR 2e-5,
2 epochs, global batch 32 (100 samples -> 6 steps), sequences up to --max-length, bf16 + TF32 on GPU, gradient
checkpointing. Runs through transformers' Trainer: one process uses one device; for several GPUs start it with
`accelerate launch` and a DeepSpeed ZeRO-3 or FSDP config (the batch stays --batch-size in total).
--data: a .jsonl/.json file or folder, or a hub dataset id such as Arist12/EABF-ShareGPT-Long-3.5k.
The result (weights, extended config.json, tokenizer, longeval_finetune.json with the loss per step) is what
`longeval run --model OUT` evaluates, with no --method.

examples:
  longeval finetune --model ./llama-2-7b-chat --method eabf --data Arist12/EABF-ShareGPT-Long-3.5k \\
      --samples 100 --max-length 16384 --out ./llama-2-7b-chat-eabf-0.1k
  accelerate launch --config_file zero3.yaml -m longeval finetune --model ./llama-2-7b-chat --method eabf \\
      --data sharegpt-long.json --samples 100 --out ./llama-2-7b-chat-eabf-0.1k
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="base checkpoint: a folder (config.json, weights, tokenizer), "
                        "a .gguf file (converted once) or a hub id org/name[@revision]")
    parser.add_argument("--method", required=True, help="method spec NAME[:key=value,...] (see `longeval methods`)")
    parser.add_argument("--data", required=True, help="conversations: .jsonl/.json file, folder, or hub dataset id")
    parser.add_argument("--out", required=True, help="new checkpoint folder (must not exist or be empty)")
    parser.add_argument("--samples", type=int, default=100, help="first N conversations used (default: 100)")
    parser.add_argument("--max-length", type=int, default=16384,
                        help="tokens per training sequence (longer ones truncated) and positions the checkpoint "
                             "serves (default: 16384, the paper's)")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch in sequences (default: 32)")
    parser.add_argument("--micro-batch-size", type=int, default=1,
                        help="sequences per device and forward pass; the rest is gradient accumulation (default: 1)")
    parser.add_argument("--epochs", type=float, default=2.0, help="default: 2")
    parser.add_argument("--lr", type=float, default=2e-5, help="peak learning rate (default: 2e-5)")
    parser.add_argument("--warmup-steps", type=int, default=0, help="default: 0 (the paper used 10 for 3.5k data)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="auto: bf16 mixed precision on GPU, fp32 on CPU")
    parser.add_argument("--no-gradient-checkpointing", action="store_true", help="faster, much more memory")
    parser.add_argument("--seed", type=int, default=42)


def _read_base_config(base: Path) -> dict:
    path = base / "config.json"
    if not path.is_file():
        raise UserError("not a checkpoint folder (no config.json)", path=base)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read config: {exc}", path=path) from None
    if not isinstance(config, dict):
        raise UserError("config.json must hold a JSON object", path=path)
    return config


def _check_numbers(args: argparse.Namespace) -> None:
    for name in ("samples", "max_length", "batch_size", "micro_batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    for name in ("epochs", "lr"):  # NaN passes `<= 0`; inf trains to NaN weights
        value = getattr(args, name)
        if not math.isfinite(value) or value <= 0:
            raise UserError(f"--{name} must be a finite number > 0, got {value:g}")
    if args.warmup_steps < 0:
        raise UserError(f"--warmup-steps must not be negative, got {args.warmup_steps}")


def run(args: argparse.Namespace) -> int:
    from longeval.checkpoint import resolve_checkpoint

    _check_numbers(args)
    checkpoint = resolve_checkpoint(args.model)  # before the heavy imports: a bad --model fails at once
    from longeval.commands.extend import extended_config
    from longeval.finetune.conversations import IGNORE, encode, load_conversations
    from longeval.finetune.train import Recipe, finetune, steps_per_run, write_checkpoint_files
    from longeval.methods import parse_method
    from longeval.prompts import load_tokenizer

    base, out = checkpoint.folder, Path(args.out)
    base_config = _read_base_config(base)
    method = parse_method(args.method)
    covered = method.covered_length(base_config)
    if args.max_length > covered:
        raise UserError(f"--max-length {args.max_length} exceeds what method {method.spec} covers on this "
                        f"checkpoint ({covered} positions); raise the factor or lower the max length")
    if out.resolve() == base.resolve():
        raise UserError("--out must differ from the base checkpoint", path=out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("output folder exists and is not empty", path=out)
    config = extended_config(base_config, method, args.max_length, checkpoint.name)

    tokenizer = load_tokenizer(str(base))
    if tokenizer.chat_template is None:
        raise UserError("the tokenizer has no chat template (needed to mark the response tokens)", path=base)
    conversations = load_conversations(args.data, args.samples)
    examples = [encode(tokenizer, c, args.max_length) for c in conversations]
    usable = [e for e in examples if any(label != IGNORE for label in e.labels[1:])]
    recipe = Recipe(max_length=args.max_length, batch_size=args.batch_size, micro_batch_size=args.micro_batch_size,
                    epochs=args.epochs, learning_rate=args.lr, warmup_steps=args.warmup_steps,
                    gradient_checkpointing=not args.no_gradient_checkpointing, precision=args.precision,
                    seed=args.seed)
    pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)

    from accelerate import PartialState

    state = PartialState()
    # The same name on every process (they all write their shard of the weights there); renamed into place at the
    # end, so an interrupted run leaves no half-written checkpoint at --out.
    staging = out.parent / f".{out.name}.partial"
    if state.is_main_process:
        print(f"finetune: {len(usable)} of {len(conversations)} conversations usable "
              f"({len(examples) - len(usable)} without response tokens within {args.max_length}), "
              f"{steps_per_run(len(usable), recipe)} optimizer steps", file=sys.stderr)
        shutil.rmtree(staging, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
    state.wait_for_everyone()
    try:
        summary = finetune(base, method, usable, recipe, staging, pad_id)
        if state.is_main_process:
            write_checkpoint_files(staging, base, config, tokenizer, summary, recipe, args.data)
            if out.exists():
                out.rmdir()  # checked empty above
            staging.rename(out)
        state.wait_for_everyone()
    except BaseException:
        if state.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if state.is_main_process:
        losses = ", ".join(f"{loss:.4f}" for loss in summary["losses"])
        print(f"wrote {out}: method {method.spec}, {summary['steps']} steps, loss per step {losses}")
    return 0
