"""Speed of `longeval ppl` on SmolLM2-135M-Instruct (fp32) against a plain transformers perplexity loop and against
`run`'s prefill rate, on the same windows of real text.

Per measurement (each in a fresh process; a 512-token window first, untimed, warms the engine up):
- ppl_hf / ppl_vllm: `longeval ppl --backend hf|vllm` at --length (the cell's own timing in ppl.json, engine load
  excluded);
- hf_loop: the usual transformers recipe, `model(ids, labels=ids).loss` per window (full logits materialised);
- run_prefill_hf / run_prefill_vllm: what `run`'s engines do with the same windows as prompts and one new token
  (HFBackend batched as `run` batches, vLLM without prefix caching), i.e. their prefill rate.
- interleaved_hf: ppl's transformers scorer, the plain loop and run's prefill (last position's logits only) on one
  loaded model in one process, taken in turn window by window, 3 rounds (median): on a shared machine the load
  then weighs on the three alike.
Rates are forward tokens per second (window tokens, not only the predicted ones), so all five compare like with
like; the NLL per token of each perplexity path is printed too (they must agree).

Text: the Paul Graham essays of RULER's haystack (../shared/reference/ruler/essays), joined in name order and cut
into --samples documents at essay boundaries, each long enough for --length.

usage: python benchmarks/ppl_speed.py [--length 4096] [--samples 4] [--engines ppl_hf,hf_loop,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("ppl_hf", "hf_loop", "run_prefill_hf", "ppl_vllm", "run_prefill_vllm", "interleaved_hf")
# ../shared beside the checkout (a worktree sits one folder deeper): the nearest one up.
ESSAYS = next((p / "shared" / "reference" / "ruler" / "essays" for p in Path(__file__).resolve().parents
               if (p / "shared" / "reference" / "ruler" / "essays").is_dir()), Path("../shared/reference/ruler/essays"))
WARM_UP = 512


def write_corpus(path: Path, samples: int, min_chars: int) -> Path:
    """`samples` documents of consecutive essays, each at least min_chars long, as a .jsonl file."""
    essays = [p.read_text(encoding="utf-8") for p in sorted(ESSAYS.glob("*.txt"))]
    documents, current = [], ""
    for essay in essays:
        current = f"{current}\n\n{essay}" if current else essay
        if len(current) >= min_chars:
            documents.append(current)
            current = ""
        if len(documents) == samples:
            break
    if len(documents) < samples:
        raise SystemExit(f"the essays give only {len(documents)} documents of {min_chars} characters")
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents), encoding="utf-8")
    return path


def windows(model: Path, corpus: Path, length: int) -> list[list[int]]:
    """The windows `ppl` scores: each document's first `length` tokens (default special tokens)."""
    from longeval.analysis.ppl_text import read_documents, select_documents
    from longeval.prompts import load_tokenizer

    tokenizer = load_tokenizer(str(model))
    texts = read_documents(str(corpus)).texts
    return [ids[:length] for ids in select_documents(texts, tokenizer, [length], len(texts))[length].documents]


def measure(model: Path, corpus: Path, engine: str, length: int) -> dict:
    spans = windows(model, corpus, length)
    forward_tokens = sum(len(s) for s in spans)
    if engine.startswith("ppl_"):
        from longeval.cli import main

        out = Path(tempfile.mkdtemp(prefix="ppl-bench-"))
        code = main(["ppl", "--model", str(model), "--method", "none", "--text", str(corpus), "--lengths",
                     f"{WARM_UP},{length}", "--samples", str(len(spans)), "--backend", engine.removeprefix("ppl_"),
                     "--dtype", "float32", "--out", str(out), "--no-progress"])
        if code != 0:
            raise SystemExit(f"ppl exited {code}")
        cell = next(c for c in json.loads((out / "ppl.json").read_text())["cells"] if c["length"] == length)
        return {"seconds": cell["seconds"], "forward_tokens": forward_tokens,
                "nll_per_token": cell["nll"] / cell["tokens"]}
    if engine == "hf_loop":
        import torch
        from transformers import AutoModelForCausalLM

        loaded = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32).eval()

        def loss(ids: list[int]) -> float:
            tensor = torch.tensor([ids])
            with torch.inference_mode():
                return float(loaded(tensor, labels=tensor).loss) * (len(ids) - 1)

        loss(spans[0][:WARM_UP])
        started = time.perf_counter()
        nll = sum(loss(ids) for ids in spans)
        return {"seconds": time.perf_counter() - started, "forward_tokens": forward_tokens,
                "nll_per_token": nll / sum(len(s) - 1 for s in spans)}
    if engine == "interleaved_hf":
        return interleaved(model, spans)
    from longeval.backends.base import GenerationParams
    from longeval.methods import parse_method

    method = parse_method("none")
    if engine == "run_prefill_vllm":
        from longeval.backends.vllm import VLLMBackend

        backend = VLLMBackend(model, method, max_length=length + 8, dtype="float32", enable_prefix_caching=False)
    else:
        from longeval.backends.hf import HFBackend

        backend = HFBackend(model, method, max_length=length + 8, dtype="float32", device="cpu", batch_size=16)
    backend.generate([spans[0][:WARM_UP]], GenerationParams(max_new_tokens=1))
    started = time.perf_counter()
    backend.generate(spans, GenerationParams(max_new_tokens=1))
    return {"seconds": time.perf_counter() - started, "forward_tokens": forward_tokens, "nll_per_token": None}


def interleaved(model: Path, spans: list[list[int]], rounds: int = 3) -> dict:
    """One model in one process, the three computations taken in turn on each window (a shared machine's load
    then weighs on all three alike): ppl's scorer, the plain loss loop, and run's prefill (last position's
    logits only). Seconds are the median round's sum over the windows."""
    import statistics

    import torch

    from longeval.analysis.perplexity import HFScorer
    from longeval.backends.hf import load_hf_model
    from longeval.methods import parse_method

    loaded = load_hf_model(model, parse_method("none"), max(len(s) for s in spans), "float32", "cpu")
    scorer = HFScorer(loaded)

    def loop(ids: list[int]) -> None:
        tensor = torch.tensor([ids])
        with torch.inference_mode():
            loaded(tensor, labels=tensor)

    def prefill(ids: list[int]) -> None:
        with torch.inference_mode():
            loaded(torch.tensor([ids]), logits_to_keep=1)

    work = {"ppl_hf": lambda ids: scorer.nll([(ids, 1)]), "hf_loop": loop, "run_prefill_hf": prefill}
    for action in work.values():
        action(spans[0][:WARM_UP])
    seconds: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(rounds):
        totals = dict.fromkeys(work, 0.0)
        for ids in spans:
            for name, action in work.items():
                started = time.perf_counter()
                action(ids)
                totals[name] += time.perf_counter() - started
        for name, total in totals.items():
            seconds[name].append(total)
    return {"seconds": {name: statistics.median(values) for name, values in seconds.items()},
            "forward_tokens": sum(len(s) for s in spans), "nll_per_token": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--write-corpus", metavar="JSONL", help="only write the essay documents (--samples of "
                        "them, each at least 6 characters per token of --length) to JSONL and stop")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: MODEL::CORPUS::ENGINE
    args = parser.parse_args()
    if args.write_corpus:
        write_corpus(Path(args.write_corpus), args.samples, min_chars=args.length * 6)
        return
    if args.worker:
        model, corpus, engine = args.worker.split("::")
        print("RESULT " + json.dumps(measure(Path(model), Path(corpus), engine, args.length)), flush=True)
        return
    from longeval.demo import smollm2_gguf
    from longeval.gguf import resolve_model

    model, _ = resolve_model(smollm2_gguf())
    scratch = Path(tempfile.mkdtemp(prefix="longeval-ppl-bench-"))
    corpus = write_corpus(scratch / "essays.jsonl", args.samples, min_chars=args.length * 6)
    load = os.getloadavg()
    rows: dict[str, dict] = {}
    for engine in args.engines.split(","):
        env = {**os.environ, "VLLM_CACHE_ROOT": str(scratch / "vllm-cache"), "VLLM_LOGGING_LEVEL": "ERROR"}
        command = [sys.executable, __file__, "--worker", f"{model}::{corpus}::{engine}", "--length",
                   str(args.length)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(f"{engine} failed:\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
            continue
        result = json.loads(lines[-1].removeprefix("RESULT "))
        print(f"{engine}: {result}", file=sys.stderr, flush=True)
        if isinstance(result["seconds"], dict):  # interleaved_hf: three measurements
            for name, seconds in result["seconds"].items():
                rows[f"{name} (interleaved)"] = {**result, "seconds": seconds}
        else:
            rows[engine] = result
    print(f"SmolLM2-135M-Instruct fp32, {args.samples} windows x {args.length} tokens of essays, "
          f"{os.cpu_count()} CPU cores; load average before/after {load[0]:.1f} / {os.getloadavg()[0]:.1f}")
    print("| measurement | seconds | forward tok/s | NLL per token |")
    print("|---|---|---|---|")
    for engine, r in rows.items():
        nll = f"{r['nll_per_token']:.6f}" if r["nll_per_token"] is not None else "-"
        print(f"| {engine} | {r['seconds']:.1f} | {r['forward_tokens'] / r['seconds']:.0f} | {nll} |")
    pairs = [("ppl_hf", "run_prefill_hf"), ("ppl_vllm", "run_prefill_vllm"), ("ppl_hf", "hf_loop")]
    pairs += [(f"{a} (interleaved)", f"{b} (interleaved)") for a, b in pairs]
    for ppl, prefill in pairs:
        if ppl in rows and prefill in rows:
            print(f"{ppl} / {prefill}: {rows[prefill]['seconds'] / rows[ppl]['seconds']:.2f}x the rate")


if __name__ == "__main__":
    main()
