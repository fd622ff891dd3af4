"""`longeval entropy`: attention entropy per layer against query position and context length, per method."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from longeval.errors import UserError

HELP = "attention entropy per layer and query position at several context lengths (CSV + plots)"
DESCRIPTION = HELP + """

The check behind entropy-aware ABF (arXiv 2401.07004, Fig. 1): does each layer's attention stay focused as the
context grows, and what does a method change? For every method and length, real text (a text file, or the
contexts of LongBench records) is run through the model (transformers, one forward pass per sample), and each
layer's softmax entropy is taken for every query from the query and key the model itself computed (EABF's query
scale included). The attention is computed in chunks of query rows (memory heads x chunk x length per layer).

Writes to --out: entropy.csv (per method, length, layer, position bucket: mean/std/min/max over heads and the
uniform-attention ceiling), entropy_heads.csv with --per-head, entropy_heatmap.png (layer x position at the longest
length, a panel per method) and entropy_vs_length.png (last bucket's entropy against length, a panel per layer,
a line per method).

examples:
  longeval entropy --model ./llama-2-7b-chat --method none --method abf --method eabf \\
      --lengths 4096,8192,16384 --data hub --tasks gov_report,narrativeqa --samples 4
  longeval entropy --model ./smollm2 --method none --method eabf --lengths 2048,4096,8192 --text book.txt
  longeval entropy --model llama-2-7b-chat --from-csv none/entropy.csv eabf/entropy.csv --out merged
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint folder, .gguf file (converted once) or hub id "
                        "org/name[@revision]")
    parser.add_argument("--method", action="append", default=None, metavar="SPEC",
                        help="method spec NAME[:key=value,...]; repeat for several (default: the checkpoint's own)")
    parser.add_argument("--lengths", default="4096,8192,16384", help="comma list of context lengths in tokens")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="FILE", help="a UTF-8 text file to read the windows from")
    source.add_argument("--data", help="LongBench data: a folder, a data.zip or 'hub' (record contexts are used)")
    source.add_argument("--from-csv", nargs="+", metavar="CSV",
                        help="measure nothing: merge entropy.csv files of earlier runs (e.g. one per method or "
                             "GPU) into --out and draw the plots; --model names the plots")
    parser.add_argument("--tasks", help="with --data: tasks or suites whose contexts are read, in order")
    parser.add_argument("--samples", type=int, default=1, help="text windows per length, averaged (default: 1)")
    parser.add_argument("--bucket-size", type=int, default=512, help="query positions per bucket (default: 512)")
    parser.add_argument("--per-head", action="store_true", help="also write entropy_heads.csv (every head)")
    parser.add_argument("--chunk-mb", type=int, default=256,
                        help="memory for one chunk of attention logits, MiB (default: 256)")
    parser.add_argument("--out", default="longeval-entropy", help="output folder (default: ./longeval-entropy)")
    parser.add_argument("--dtype", default="auto", help="auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _lengths(text: str) -> list[int]:
    try:
        lengths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UserError(f"--lengths must be a comma list of integers, got {text!r}") from None
    if not lengths or lengths[0] < 2:
        raise UserError(f"--lengths must hold lengths of at least 2 tokens, got {text!r}")
    return lengths


def _check(args: argparse.Namespace) -> None:
    if args.data and not args.tasks:
        raise UserError("--data needs --tasks (the tasks whose contexts are read)")
    if args.tasks and not args.data:
        raise UserError("--tasks needs --data (where the LongBench records are)")
    for name in ("samples", "bucket_size", "chunk_mb"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")


def _write_outputs(out: Path, title: str, summary: list[dict[str, object]],
                   per_head: list[dict[str, object]] | None) -> None:
    from longeval.analysis import entropy_report as report

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "entropy.csv"]
    report.write_csv(out / "entropy.csv", report.SUMMARY_COLUMNS, summary)
    if per_head is not None:
        report.write_csv(out / "entropy_heads.csv", report.HEAD_COLUMNS, per_head)
        written.append(out / "entropy_heads.csv")
    report.plot_heatmap(summary, out / "entropy_heatmap.png", title)
    report.plot_vs_length(summary, out / "entropy_vs_length.png", title)
    written += [out / "entropy_heatmap.png", out / "entropy_vs_length.png"]
    for path in written:
        print(f"wrote {path}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.from_csv:
        from longeval.analysis.entropy_report import read_summary_csv

        merged = [row for path in args.from_csv for row in read_summary_csv(Path(path))]
        _write_outputs(Path(args.out), Path(args.model).name, merged, None)
        return 0
    _check(args)
    lengths = _lengths(args.lengths)
    from longeval.checkpoint import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.model)  # before the heavy imports: a bad --model fails at once
    from tqdm import tqdm

    from longeval.analysis import entropy_report as report
    from longeval.analysis.entropy import instrument, measure
    from longeval.analysis.entropy_inputs import longbench_documents, text_file_documents, token_windows
    from longeval.backends.hf import extended_config, load_hf_model
    from longeval.methods import parse_method
    from longeval.prompts import load_tokenizer

    model_path = checkpoint.folder
    methods = [parse_method(spec) for spec in args.method] if args.method else [None]
    tokenizer = load_tokenizer(str(model_path))
    if args.text:
        documents, describe = text_file_documents(args.text), f"text file {args.text}"
    else:
        documents, describe = longbench_documents(args.data, args.tasks), f"the contexts of {args.tasks}"
    windows = token_windows(documents, tokenizer, lengths, args.samples, describe)
    if args.no_progress:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

    model_name = checkpoint.name
    summary: list[dict[str, object]] = []
    per_head: list[dict[str, object]] = []
    out = Path(args.out)
    with tqdm(total=len(methods) * len(windows), desc="entropy", unit="pass", disable=args.no_progress,
              dynamic_ncols=True) as bar:
        for method in methods:
            model = load_hf_model(model_path, method, max(lengths), args.dtype, args.device)
            label = method.spec if method is not None else extended_config(model_path)[1].spec
            instrument(model)
            for length in lengths:
                acc = report.Accumulated(length, args.bucket_size)
                for sample in range(args.samples):
                    bar.set_postfix_str(f"{label} {length}")
                    acc.add(measure(model, windows[(length, sample)], args.bucket_size, args.chunk_mb << 20))
                    bar.update()
                summary.extend(report.summary_rows(model_name, label, acc))
                if args.per_head:
                    per_head.extend(report.head_rows(model_name, label, acc))
            del model
    _write_outputs(out, model_name, summary, per_head if args.per_head else None)
    return 0
