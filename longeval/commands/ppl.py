"""`longeval ppl`: perplexity against context length, per method, on real text (resumable per cell)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from longeval.errors import UserError

HELP = "perplexity against context length per method on real text (ppl.csv, plot, provenance; resumable)"
DESCRIPTION = HELP + """

The check every context-extension paper reports (PI, YaRN, LongLoRA): does perplexity stay flat, or fall, as the
context grows past the model's original window, under each method? The methods are applied exactly as for `run`
(EABF's query scale included) on either engine.

Protocol:
  - each document is tokenized with the tokenizer's default special tokens (a Llama tokenizer adds BOS);
  - for a length L, every document with at least L tokens gives its first L tokens, up to --samples documents,
    in order; shorter documents are skipped (and counted in ppl.json);
  - the loss is over the L - 1 predicted tokens of each document, and ppl = exp(total NLL / total predicted
    tokens) over the length's documents;
  - --stride S: the sliding-window variant (PI paper: S=256): over each whole document, windows of L tokens every
    S tokens (the last one cut at the document's end), the loss only on the tokens new to each window, so every
    token after the first is predicted once with at least L - S tokens of context after the first window.

--text: a text file (one document), a .jsonl file (a line's 'text', else its 'context' field; --field names
another), a folder of .txt/.jsonl files (sub-folders too, in path order), or a LongBench data.zip / 'hub' (the
contexts of its records; with --tasks only those tasks').

Engines: hf (transformers; logits are taken chunk by chunk of positions, so a 32k window fits: --chunk-mb) or
vllm (prompt logprobs; one engine per method serves every length). Both give the same numbers within float
tolerance. Lengths past a method's RoPE coverage are measured, with the warning `run` gives.

Writes to --out: ppl.csv (method, length, documents, tokens, nll = total nats, ppl), ppl_vs_length.png (log
scale, a line per method) and ppl.json (model, methods with parameters, text checksum, versions, every cell).
Re-running the command skips finished cells (add methods or lengths freely); other text, another model or other
protocol settings in the same --out are refused.

examples:
  longeval ppl --model ./llama-2-7b --method none --method pi:factor=4 --method yarn:factor=4 --method eabf \\
      --lengths 2048,4096,8192,16384 --text ./pg19-test --samples 10 --backend vllm
  longeval ppl --model ./smollm2 --method none --method yarn:factor=8 --lengths 2048,8192 --text book.txt \\
      --stride 256
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="checkpoint folder, .gguf file (converted once, cached) or hub id org/name[@rev], "
                        "as for `run`")
    parser.add_argument("--method", action="append", metavar="SPEC",
                        help="method spec NAME[:key=value,...], repeat for several (default: the checkpoint's own)")
    parser.add_argument("--lengths", default="2048,4096,8192", help="comma list of context lengths in tokens "
                        "(default: 2048,4096,8192)")
    parser.add_argument("--text", required=True, metavar="PATH",
                        help="text file, .jsonl file, folder of .txt/.jsonl files, LongBench data.zip or 'hub'")
    parser.add_argument("--tasks", help="with a LongBench source: the tasks (or suites) whose contexts are read")
    parser.add_argument("--field", help="a .jsonl line's document field (default: 'text', else 'context')")
    parser.add_argument("--samples", type=int, default=8, help="documents per length, the first long enough "
                        "(default: 8)")
    parser.add_argument("--stride", type=int, help="sliding-window variant: a window of L tokens every S tokens "
                        "over each whole document (PI paper: 256); at most the shortest length")
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf",
                        help="hf = transformers (default), vllm = vLLM prompt logprobs")
    parser.add_argument("--out", default="longeval-ppl", type=Path, help="output folder (default: ./longeval-ppl)")
    parser.add_argument("--dtype", default="auto", help="auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16")
    parser.add_argument("--device", default="auto", help="hf: auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--chunk-mb", type=int, default=256,
                        help="hf: memory for one chunk of float32 logits, MiB (default: 256)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars, and no engine log lines below WARNING")


def parse_lengths(text: str) -> list[int]:
    """'2048,4096' -> [2048, 4096] (sorted, unique); anything else is a one-line UserError."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts) or any(int(part) < 2 for part in parts):
        raise UserError(f"--lengths takes token counts of at least 2 separated by commas, got {text!r}")
    return sorted({int(part) for part in parts})


def check_args(args: argparse.Namespace, lengths: list[int]) -> None:
    from longeval.backends.base import canonical_dtype

    args.dtype = canonical_dtype(args.dtype)
    if args.backend == "vllm" and args.dtype == "float64":
        raise UserError("vLLM does not run float64 (use float32, bfloat16 or float16)")
    for name in ("samples", "chunk_mb"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.stride is not None and not 1 <= args.stride <= lengths[0]:
        raise UserError(f"--stride must be between 1 and the shortest length ({lengths[0]}), got {args.stride}")
    if args.backend == "vllm" and args.device != "auto":
        raise UserError("--device is for --backend hf (vLLM picks its device itself)")


def engine_dtype(backend: str, dtype: str, device: str) -> str:
    """The dtype the engine will run, "auto" resolved as both backends resolve it (float32 on CPU, bfloat16 on a
    GPU), so that `--dtype auto` and `--dtype float32` on a CPU are the same setting of a resumed folder."""
    if dtype != "auto":
        return dtype
    from longeval.backends.hf import resolve_device

    return "float32" if resolve_device(device if backend == "hf" else "auto") == "cpu" else "bfloat16"


def checkpoint_inputs(model: str) -> tuple[Any, Path, Any, dict[str, Any], str]:
    """(hub resolution, checkpoint folder, GGUF source, config, config sha256): --model through the one checkpoint
    resolver every command uses (a folder, a GGUF file, a hub id)."""
    from longeval.checkpoint import resolve_checkpoint
    from longeval.runs.inputs import read_model_config

    checkpoint = resolve_checkpoint(model)
    folder, config, config_sha = read_model_config(str(checkpoint.folder))
    return checkpoint.hub, folder, checkpoint.gguf, config, config_sha


def run(args: argparse.Namespace) -> int:
    lengths = parse_lengths(args.lengths)
    check_args(args, lengths)
    from longeval.analysis.ppl_text import check_selections, read_documents, select_documents
    from longeval.engine_logs import route_engine_logs
    from longeval.methods import parse_method
    from longeval.runs.inputs import resolve_method

    route_engine_logs(quiet=args.no_progress)
    specs = args.method or [None]
    parsed = [parse_method(spec) if spec is not None else None for spec in specs]
    documents = read_documents(args.text, args.field, args.tasks)
    resolved, model_dir, gguf, config, config_sha = checkpoint_inputs(args.model)
    methods = [m if m is not None else resolve_method(None, config) for m in parsed]
    methods = list({m.spec: m for m in methods}.values())
    for method in methods:  # refuse a method the model cannot take before any engine starts
        method.config_overrides(config, lengths[-1])

    from longeval.prompts import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    selections = select_documents(documents.texts, tokenizer, lengths, args.samples, progress=not args.no_progress)
    check_selections(selections, documents.describe)

    from longeval.analysis.ppl_output import PplFolder
    from longeval.runs.identity import weights_fingerprint

    model_identity = {"config_sha256": config_sha, "weights_sha256": weights_fingerprint(model_dir),
                      **({"commit": resolved.commit} if resolved.commit else {})}
    args.dtype = engine_dtype(args.backend, args.dtype, args.device)
    identity = {"model": model_identity, "text_sha256": documents.sha256, "samples": args.samples,
                "stride": args.stride, "backend": args.backend, "dtype": args.dtype}
    name = Path(gguf.file).stem if gguf else resolved.name
    provenance = {"model": {"name": name, "path": str(model_dir.resolve()), **resolved.provenance(),
                            **({"gguf_file": gguf.file, "gguf_sha256": gguf.sha256} if gguf else {})},
                  "text": {"source": documents.describe, "documents": len(documents.texts), "field": args.field,
                           "tasks": args.tasks},
                  "protocol": {"special_tokens": "tokenizer default", "samples": args.samples,
                               "stride": args.stride, "ppl": "exp(total NLL / total predicted tokens)"}}
    folder = PplFolder(args.out, identity)
    try:
        measure_all(args, folder, methods, lengths, selections, model_dir, config, provenance)
        plot = folder.plot(f"{name}: perplexity against context length")
    finally:
        folder.close()
    print_table(folder.rows())
    for path in (args.out / "ppl.csv", plot, folder.ledger):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def measure_all(args: argparse.Namespace, folder: Any, methods: list[Any], lengths: list[int],
                selections: dict[int, Any], model_dir: Path, config: dict[str, Any],
                provenance: dict[str, Any]) -> None:
    """Every unfinished cell, method by method; one engine per method (per length for dynamic-ntk, whose RoPE
    depends on the length, as in `run`)."""
    from tqdm import tqdm

    from longeval.analysis.perplexity import make_scorer, predicted_tokens, score_cell
    from longeval.methods.length import extrapolation_warning
    from longeval.runner import library_versions

    if args.no_progress:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    versions = library_versions()
    for method in methods:
        todo = [length for length in lengths if folder.done(method.spec, length) is None]
        for length in lengths:
            if length not in todo:
                print(f"{method.spec} at {length}: finished earlier, skipped", file=sys.stderr)
        if not todo:
            continue
        warning = extrapolation_warning(method, config, todo[-1])
        if warning:
            print(f"longeval ppl: {warning}", file=sys.stderr)
        groups: dict[str, list[int]] = {}  # bound spec -> lengths (one engine each)
        for length in todo:
            groups.setdefault(method.for_run_length(length).spec, []).append(length)
        for group in groups.values():
            bound = method.for_run_length(group[-1])
            scorer = make_scorer(args.backend, model_dir, bound, group[-1], args.dtype, args.device,
                                 args.chunk_mb << 20)
            try:
                for length in group:
                    selection = selections[length]
                    started = time.perf_counter()
                    with tqdm(total=predicted_tokens(selection, args.stride), desc=f"ppl {method.spec} {length}",
                              unit="tok", unit_scale=True, disable=args.no_progress, dynamic_ncols=True) as bar:
                        result = score_cell(scorer, selection, args.stride, bar)
                    seconds = time.perf_counter() - started
                    cell = {"method": method.spec, "length": length, "documents": result.documents,
                            "tokens": result.tokens, "nll": result.nll, "ppl": result.ppl,
                            "skipped_documents": result.skipped, "bound_method": bound.spec,
                            "seconds": round(seconds, 3), "tokens_per_second": round(result.tokens / seconds, 1),
                            "versions": versions}
                    folder.add(cell, provenance, {"name": method.name, "params": method.params})
            finally:
                scorer.close()


def print_table(rows: list[dict[str, Any]]) -> None:
    """method x length table of perplexities on stdout."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lengths = sorted({r["length"] for r in rows})
    values = {(r["method"], r["length"]): r["ppl"] for r in rows}
    width = max([len("method"), *(len(m) for m in methods)])
    print("method".ljust(width) + "".join(f"{length:>12}" for length in lengths))
    for method in methods:
        cells = [f"{values[(method, n)]:>12.4f}" if (method, n) in values else f"{'-':>12}" for n in lengths]
        print(method.ljust(width) + "".join(cells))
