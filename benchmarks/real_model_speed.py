"""Real-model speed: SmolLM2-135M-Instruct (fp32) on the same real-text prompts through vLLM, the official
one-prompt-at-a-time HF loop (pred.py's `model.generate`) and longeval's HF backend batched.

Per engine (each in a fresh process): wall time for all prompts, prefill tokens/s (the prompts with one new
token), decode tokens/s (the extra new tokens of a second, full generation over the extra time), the ratio to the
official loop, CPU seconds per wall second during generation (2.0 = both cores busy) and the share of this CPU's
fp32 matmul throughput (torch.mm, measured in the same run) that prefill reaches. vLLM runs twice: with longeval's
defaults and pinned to one thread (OMP_NUM_THREADS=1), which shows whether longeval's runs use both cores.

Prompts: passkey records (filler text with a key, the passkey task's generator) at --prompt-length tokens.

usage: python benchmarks/real_model_speed.py [--prompts 4] [--prompt-length 2048] [--new-tokens 32]
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

ENGINES = ("vllm", "vllm_1_thread", "hf_official", "hf_batched")


def prompts_for(model: Path, count: int, length: int) -> list[list[int]]:
    from longeval.benchmarks.passkey.generate import PasskeySettings, generate
    from longeval.prompts import build_prompt, load_tokenizer
    from longeval.tasks import get_task

    tokenizer = load_tokenizer(str(model))
    depths = tuple((i + 0.5) / count for i in range(count))
    records = generate(tokenizer, length, PasskeySettings(depths=depths, repeats=1))
    return [build_prompt(get_task("passkey"), r, tokenizer, length, "none").token_ids for r in records]


def timed(action):
    cpu, started = time.process_time(), time.perf_counter()
    result = action()
    return result, time.perf_counter() - started, time.process_time() - cpu


def measure(model: Path, engine: str, args: argparse.Namespace) -> dict:
    """One engine in this process: load time, prefill (1 new token) and full generation timings."""
    from longeval.backends.base import GenerationParams
    from longeval.methods import parse_method

    prompts = prompts_for(model, args.prompts, args.prompt_length)
    max_length = args.prompt_length + args.new_tokens + 8
    method = parse_method("none")
    if engine == "hf_official":
        generate, start = official_loop(model, method, max_length)
    else:
        if engine.startswith("vllm"):
            from longeval.backends.vllm import VLLMBackend

            # No prefix caching: the full generation below must compute its prefill again, as the HF engines do
            # (with vLLM's default caching the second call reuses the first one's KV cache and looks free).
            backend, start, _ = timed(lambda: VLLMBackend(model, method, max_length=max_length, dtype="float32",
                                                          enable_prefix_caching=False))
        else:
            from longeval.backends.hf import HFBackend

            backend, start, _ = timed(lambda: HFBackend(model, method, max_length=max_length, dtype="float32",
                                                        device="cpu", batch_size=len(prompts)))

        def generate(new_tokens: int, batch):
            return [g.token_ids for g in backend.generate(batch, GenerationParams(max_new_tokens=new_tokens))]
    import torch

    generate(2, [prompts[0][:64]])  # warm-up
    _, prefill, _ = timed(lambda: generate(1, prompts))
    outputs, total, cpu = timed(lambda: generate(args.new_tokens, prompts))
    return {"start": start, "prefill_s": prefill, "total_s": total, "cpu_s": cpu, "threads": torch.get_num_threads(),
            "prompt_tokens": sum(len(p) for p in prompts), "generated": sum(len(o) for o in outputs),
            "token_ids": outputs}


def official_loop(model: Path, method, max_length: int):
    """pred.py's loop: `model.generate` on one prompt at a time, greedy, the new tokens sliced off."""
    import torch

    from longeval.backends.hf import load_hf_model

    loaded, start, _ = timed(lambda: load_hf_model(model, method, max_length, dtype="float32", device="cpu"))

    def generate(new_tokens: int, batch) -> list[list[int]]:
        out = []
        with torch.inference_mode():
            for prompt in batch:
                ids = torch.tensor([prompt])
                generated = loaded.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                            num_beams=1, do_sample=False)
                out.append(generated[0, len(prompt):].tolist())
        return out

    return generate, start


def matmul_gflops(n: int = 2048, repeat: int = 5) -> float:
    """fp32 torch.mm throughput of this CPU with torch's default threads (the best of `repeat`)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b))[1] for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def prefill_flops(model: Path, prompt_tokens: int, prompts: int) -> float:
    """Linear layers (2 x non-embedding parameters per token) plus causal attention (QK and AV) per prompt."""
    config = json.loads((model / "config.json").read_text())
    hidden, layers, inter = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    kv = config["num_key_value_heads"] * config.get("head_dim", hidden // config["num_attention_heads"])
    per_layer = hidden * hidden * 2 + hidden * kv * 2 + 3 * hidden * inter  # q, o, k, v, gate/up/down
    length = prompt_tokens / prompts
    attention = 4 * layers * hidden * length * length / 2 * prompts
    return 2 * layers * per_layer * prompt_tokens + attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--prompt-length", type=int, default=2048, help="tokens per prompt")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: MODEL::ENGINE, one measurement
    args = parser.parse_args()

    if args.worker:
        model, engine = args.worker.rsplit("::", 1)
        print("RESULT " + json.dumps(measure(Path(model), engine, args)), flush=True)
        return
    from longeval.demo import smollm2_gguf
    from longeval.gguf import resolve_model

    model, _ = resolve_model(smollm2_gguf())
    scratch = Path(tempfile.mkdtemp(prefix="longeval-bench-"))
    load = os.getloadavg()
    rows: dict[str, dict] = {}
    for engine in args.engines.split(","):
        env = {**os.environ, "VLLM_CACHE_ROOT": str(scratch / "vllm-cache"), "VLLM_LOGGING_LEVEL": "ERROR"}
        if engine == "vllm_1_thread":
            env["OMP_NUM_THREADS"] = "1"
        command = [sys.executable, __file__, "--worker", f"{model}::{engine}", "--prompts", str(args.prompts),
                   "--prompt-length", str(args.prompt_length), "--new-tokens", str(args.new_tokens)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"{engine} failed:\n{done.stderr[-3000:]}")
        rows[engine] = json.loads(lines[-1].removeprefix("RESULT "))
    gflops = matmul_gflops()
    official = rows.get("hf_official")
    print(f"SmolLM2-135M-Instruct fp32, {args.prompts} prompts x {args.prompt_length} tokens (passkey text), "
          f"{args.new_tokens} new tokens, {os.cpu_count()} CPU cores, torch.mm fp32 {gflops:.0f} GFLOP/s; "
          f"load average before/after {load[0]:.1f} / {os.getloadavg()[0]:.1f}")
    print("| engine | wall (all prompts) | prefill tok/s | decode tok/s | official loop / engine | CPU s per wall s "
          "| prefill share of torch.mm | tokens = official |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, r in rows.items():
        prefill_rate = r["prompt_tokens"] / r["prefill_s"]
        decode_time = max(r["total_s"] - r["prefill_s"], 1e-9)
        decode_rate = (r["generated"] - args.prompts) / decode_time
        share = prefill_flops(model, r["prompt_tokens"], args.prompts) / r["prefill_s"] / 1e9 / gflops
        ratio = f"{official['total_s'] / r['total_s']:.1f}x" if official else "-"
        agree = (f"{sum(a == b for a, b in zip(r['token_ids'], official['token_ids'], strict=True))}/{args.prompts}"
                 if official else "-")
        print(f"| {engine} | {r['total_s']:.1f} s | {prefill_rate:.0f} | {decode_rate:.1f} | {ratio} "
              f"| {r['cpu_s'] / r['total_s']:.2f} | {share:.0%} | {agree} |")


if __name__ == "__main__":
    main()
