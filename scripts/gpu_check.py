"""The transformers path on a GPU in bf16: EABF against the eager reference, entropy, one fine-tune step, a passkey
sweep. Prints one line per check with its figure; exit 1 when a check fails. Run through scripts/gpu-check.sh.

Without CUDA the same checks run on the CPU in float32 at small sizes (the CPU fallback the tests run), so the
script is exercised everywhere; on a GPU it is the check the CPU-only CI cannot make: bf16 kernels, SDPA on CUDA,
the query scale in half precision, a training step with gradient checkpointing, long prompts.

Checks:
1. EABF (longeval's SDPA attention with the query scale, in the device dtype) against the reference: the model
   family's own eager attention with the same scale, float32 on the CPU, for every tiny family (Gemma2 soft-caps
   its logits, so its fast path is the eager one too: there the check is device and dtype against the CPU).
   Figures: max |logit difference| and the share of positions whose top token agrees.
2. `longeval entropy` on the tiny Llama, none and eabf, two lengths: finishes and writes entropy.csv.
3. `longeval finetune` one optimiser step on the tiny Llama with eabf: finite loss, a checkpoint written.
4. A passkey sweep with `--model` given (SmolLM2 converted, or any checkpoint): `longeval run --backend hf` at the
   lengths given, printing accuracy per method and length. Skipped without --model (nothing downloadable there).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "phi3", "stablelm")
# bf16 logits of a random tiny model differ from float32 by a few hundredths; the top token must agree on nearly
# every position (ties between near-equal random logits may flip).
TOLERANCE = {"float32": 1e-3, "bfloat16": 0.25}
MIN_TOP1 = {"float32": 1.0, "bfloat16": 0.95}


def longeval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "longeval", *args], capture_output=True, text=True)


def eabf_logits(model_dir: Path, device: str, dtype: str, eager: bool, ids: list[int]):
    import torch

    from longeval.backends.hf import load_hf_model
    from longeval.methods.base import parse_method
    from longeval.methods.hf import EABF_EAGER_ATTENTION

    model = load_hf_model(model_dir, parse_method("eabf"), max_length=len(ids) * 4, dtype=dtype, device=device)
    if eager:
        model.set_attn_implementation(EABF_EAGER_ATTENTION)
    with torch.no_grad():
        return model(torch.tensor([ids], device=device)).logits[0].float().cpu()


def check_eabf(work: Path, device: str, dtype: str, length: int) -> bool:
    import torch

    from longeval.tinymodel import build_tiny_model

    ok = True
    generator = torch.Generator().manual_seed(0)
    for family in FAMILIES:
        model_dir = build_tiny_model(work / f"tiny-{family}", family=family)
        vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
        ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
        fast = eabf_logits(model_dir, device, dtype, eager=False, ids=ids)
        reference = eabf_logits(model_dir, "cpu", "float32", eager=True, ids=ids)
        diff = (fast - reference).abs().max().item()
        top1 = (fast.argmax(-1) == reference.argmax(-1)).float().mean().item()
        passed = diff <= TOLERANCE[dtype] and top1 >= MIN_TOP1[dtype]
        ok &= passed
        print(f"eabf {family:9s} {device}/{dtype} vs eager float32 cpu: max|dlogit| {diff:.2e}, top-1 agree "
              f"{top1:.1%} over {length} positions: {'ok' if passed else 'FAILED'}")
    return ok


def check_entropy(work: Path, device: str, dtype: str, lengths: str) -> bool:
    from longeval.tinymodel import build_tiny_model

    model_dir = build_tiny_model(work / "tiny-llama")
    text = work / "text.txt"
    text.write_text(" ".join(f"word{i % 97} sentence {i}." for i in range(20000)))
    started = time.perf_counter()
    done = longeval("entropy", "--model", str(model_dir), "--method", "none", "--method", "eabf", "--lengths",
                    lengths, "--text", str(text), "--samples", "1", "--device", device, "--dtype", dtype,
                    "--out", str(work / "entropy"), "--no-progress")
    passed = done.returncode == 0 and (work / "entropy" / "entropy.csv").is_file()
    print(f"entropy none+eabf at {lengths} on {device}/{dtype}: {time.perf_counter() - started:.1f} s: "
          f"{'ok' if passed else 'FAILED: ' + (done.stderr.strip().splitlines() or ['?'])[-1]}")
    return passed


def check_finetune(work: Path, device: str, precision: str) -> bool:
    from longeval.tinymodel import build_tiny_model

    model_dir = build_tiny_model(work / "tiny-llama")
    data = work / "conversations.jsonl"
    turn = {"conversations": [{"from": "human", "value": "Repeat the numbers: " + " ".join(map(str, range(60)))},
                              {"from": "gpt", "value": " ".join(map(str, range(60)))}]}
    data.write_text((json.dumps(turn) + "\n") * 2)
    started = time.perf_counter()
    out = work / "finetuned"
    shutil.rmtree(out, ignore_errors=True)  # a rerun with the same --work starts this check afresh
    done = longeval("finetune", "--model", str(model_dir), "--method", "eabf", "--data", str(data), "--out",
                    str(out), "--samples", "2", "--batch-size", "2", "--epochs", "1", "--max-length", "512",
                    "--precision", precision)
    summary = out / "longeval_finetune.json"
    losses = json.loads(summary.read_text()).get("losses", []) if summary.is_file() else []
    passed = done.returncode == 0 and bool(losses) and all(math.isfinite(x) for x in losses)
    print(f"finetune eabf, one step on {device}/{precision}: {time.perf_counter() - started:.1f} s, losses "
          f"{losses}: {'ok' if passed else 'FAILED: ' + (done.stderr.strip().splitlines() or ['?'])[-1]}")
    return passed


def check_passkey(work: Path, model: str, methods: list[str], max_length: int, dtype: str) -> bool:
    ok = True
    for method in methods:
        started = time.perf_counter()
        done = longeval("run", "--model", model, "--method", method, "--tasks", "passkey_sweep", "--max-length",
                        str(max_length), "--backend", "hf", "--dtype", dtype, "--out", str(work / "runs"),
                        "--run-name", f"passkey-{method}", "--no-progress")
        result = work / "runs" / f"passkey-{method}" / "pred" / "result.json"
        passed = done.returncode == 0 and result.is_file()
        ok &= passed
        score = json.loads(result.read_text()) if passed else (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"passkey sweep to {max_length} with {method} ({dtype}): {time.perf_counter() - started:.0f} s: "
              f"{score}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint for the passkey sweep (SmolLM2 converted, a folder)")
    parser.add_argument("--methods", default="none,yarn:factor=4,abf,eabf")
    parser.add_argument("--max-length", type=int, default=None, help="passkey budget (GPU 32768, CPU 2048)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()

    import torch

    gpu = torch.cuda.is_available()
    device, dtype, precision = ("cuda", "bfloat16", "bf16") if gpu else ("cpu", "float32", "fp32")
    card = torch.cuda.get_device_name(0) if gpu else "no CUDA device: the CPU fallback (float32, small sizes)"
    print(f"device: {card}; torch {torch.__version__}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="longeval-gpu-check-"))
    results = {
        "eabf": check_eabf(work, device, dtype, length=1024 if gpu else 96),
        "entropy": check_entropy(work, device, dtype, "1024,4096" if gpu else "64,128"),
        "finetune": check_finetune(work, device, precision),
    }
    if args.model:
        results["passkey"] = check_passkey(work, args.model, args.methods.split(","),
                                           args.max_length or (32768 if gpu else 2048), dtype)
    else:
        print("passkey sweep: skipped (no --model given; the device machine has no model to download)")
    failed = [name for name, passed in results.items() if not passed]
    print("all checks passed" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
