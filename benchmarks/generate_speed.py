"""Generation speed: the same prompts through vLLM (one batch), HF one prompt at a time, and HF batched.

HF `model.generate` one prompt at a time is how the official LongBench pred.py generates; longeval's HF backend
(its own greedy loop) runs one at a time or batched (left padding); longeval's default backend is vLLM. Each engine
gets the same random token-id prompts (longer than the model's original 256 positions, so the method is exercised:
ABF by default) and greedy-decodes the same number of new tokens in fp32. Each engine runs in a fresh process; its
start (model load) is timed apart from generation, which is timed --repeat times after a short warm-up request
(the best time is reported). The script also counts how many sequences come out identical to the official loop's
(fp32 greedy should agree token for token).

usage: python benchmarks/generate_speed.py [--presets tiny,15m] [--prompts 8] [--prompt-length 2000]
                                           [--new-tokens 32] [--method abf] [--repeat 3] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def random_prompts(model: Path, count: int, length: int, seed: int = 0) -> list[list[int]]:
    config = json.loads((model / "config.json").read_text())
    special = {0, config["bos_token_id"], config["eos_token_id"]}
    ordinary = [i for i in range(config["vocab_size"]) if i not in special]
    rng = random.Random(seed)
    return [[rng.choice(ordinary) for _ in range(length)] for _ in range(count)]


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


ENGINES = ("vllm", "hf_generate", "hf_one", "hf_batched")


def measure(model: Path, engine: str, args: argparse.Namespace) -> dict:
    """One engine in this process: start/load time, then the timed generation of all prompts."""
    from longeval.backends.base import GenerationParams
    from longeval.methods import parse_method

    method = parse_method(args.method)
    max_length = args.prompt_length + args.new_tokens
    prompts = random_prompts(model, args.prompts, args.prompt_length)
    params = GenerationParams(max_new_tokens=args.new_tokens)
    if engine == "hf_generate":
        return measure_hf_generate(model, method, max_length, prompts, args)
    if engine == "vllm":
        from longeval.backends.vllm import VLLMBackend

        backend, start = timed(lambda: VLLMBackend(model, method, max_length=max_length, dtype="float32"))
    else:
        from longeval.backends.hf import HFBackend

        batch_size = 1 if engine == "hf_one" else args.prompts
        backend, start = timed(lambda: HFBackend(model, method, max_length=max_length, dtype="float32",
                                                 device="cpu", batch_size=batch_size))
    backend.generate([prompts[0][:64]], GenerationParams(max_new_tokens=2))  # warm-up
    runs = [timed(lambda: backend.generate(prompts, params)) for _ in range(args.repeat)]
    backend.close()
    # The best of the repeats: on a shared machine the slower ones measure the neighbours, not the engine.
    return {"start": start, "seconds": min(seconds for _, seconds in runs),
            "all_seconds": [seconds for _, seconds in runs], "token_ids": [g.token_ids for g in runs[0][0]]}


def measure_hf_generate(model: Path, method, max_length: int, prompts, args: argparse.Namespace) -> dict:
    """The official pred.py loop: `model.generate` on one prompt at a time, greedy, new tokens sliced off."""
    import torch

    from longeval.backends.hf import load_hf_model

    loaded, start = timed(lambda: load_hf_model(model, method, max_length, dtype="float32", device="cpu"))

    def generate_all(new_tokens: int, batch) -> list[list[int]]:
        out = []
        with torch.inference_mode():
            for prompt in batch:
                ids = torch.tensor([prompt])
                generated = loaded.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                            num_beams=1, do_sample=False, temperature=1.0, top_p=1.0)
                out.append(generated[0, len(prompt):].tolist())
        return out

    generate_all(2, [prompts[0][:64]])  # warm-up
    runs = [timed(lambda: generate_all(args.new_tokens, prompts)) for _ in range(args.repeat)]
    return {"start": start, "seconds": min(seconds for _, seconds in runs),
            "all_seconds": [seconds for _, seconds in runs], "token_ids": runs[0][0]}


def bench_preset(preset: str, models: Path, args: argparse.Namespace) -> dict:
    """Each engine in a fresh process: vLLM's CPU worker pins threads process-wide, which would skew the others."""
    from longeval.tinymodel import build_tiny_model

    model = build_tiny_model(models / preset, preset=preset)
    row: dict = {"preset": preset}
    for engine in ENGINES:
        command = [sys.executable, __file__, "--worker", f"{model}::{engine}", "--prompts", str(args.prompts),
                   "--prompt-length", str(args.prompt_length), "--new-tokens", str(args.new_tokens),
                   "--method", args.method, "--repeat", str(args.repeat)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"{engine} on {preset} failed:\n{done.stderr[-3000:]}")
        row[engine] = json.loads(lines[-1].removeprefix("RESULT "))
    reference = row["hf_generate"]["token_ids"]
    for engine in ("vllm", "hf_one", "hf_batched"):
        row[engine]["agree"] = sum(a == b for a, b in zip(row[engine]["token_ids"], reference, strict=True))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,15m", help="tiny-model presets, comma separated")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--prompt-length", type=int, default=2000, help="tokens per prompt")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--method", default="abf", help="method spec applied in all three engines (default abf)")
    parser.add_argument("--repeat", type=int, default=3, help="timed generations per engine; the best is reported")
    parser.add_argument("--models", type=Path, help="where to build/reuse the tiny models (default: a temp folder)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: MODEL::ENGINE, one measurement
    args = parser.parse_args()

    if args.worker:
        model, engine = args.worker.rsplit("::", 1)
        print("RESULT " + json.dumps(measure(Path(model), engine, args)), flush=True)
        return
    scratch = Path(tempfile.mkdtemp(prefix="longeval-bench-"))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(scratch / "vllm-cache"))
    models = args.models or scratch / "models"
    rows = [bench_preset(preset.strip(), models, args) for preset in args.presets.split(",") if preset.strip()]

    print(f"{args.prompts} prompts x {args.prompt_length} tokens, {args.new_tokens} new tokens, method "
          f"{args.method}, fp32, {os.cpu_count()} CPU cores")
    print("| model | vLLM, one batch | HF generate, one at a time (official pred.py) | HF backend, one at a time "
          "| HF backend, batched | official / vLLM | HF batched / vLLM | identical to official | start: vLLM / HF |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        vllm, official, one, batched = r["vllm"], r["hf_generate"], r["hf_one"], r["hf_batched"]
        agree = ", ".join(f"{name} {r[key]['agree']}/{args.prompts}"
                          for name, key in (("vLLM", "vllm"), ("HF one", "hf_one"), ("HF batched", "hf_batched")))
        print(f"| {r['preset']} ({parameters(models / r['preset'])}) | {vllm['seconds']:.2f} s "
              f"| {official['seconds']:.2f} s | {one['seconds']:.2f} s | {batched['seconds']:.2f} s "
              f"| {official['seconds'] / vllm['seconds']:.1f}x | {batched['seconds'] / vllm['seconds']:.1f}x "
              f"| {agree} | {vllm['start']:.1f} s / {official['start']:.1f} s |")
    for r in rows:
        print(f"{r['preset']} all timings (s): " + "; ".join(
            f"{engine} {', '.join(f'{t:.2f}' for t in r[engine]['all_seconds'])}" for engine in ENGINES))

def parameters(model: Path) -> str:
    info = json.loads((model / "longeval_tiny_model.json").read_text())
    return f"{info['parameters'] / 1e6:.1f}M parameters"

if __name__ == "__main__":
    main()
