"""RULER records for one task at one max length: the model's tokenizer and chat wrapper, the generator the task
names, and the record cache in front of it.

A record: `_id` (<ruler task>-<max length>-<index>), `index`, `input` (the prompt up to the answer prefix, chat
wrapper included), `answer_prefix` (the prompt ends with it), `outputs` (the references), `length` (prompt tokens
+ tokens to generate, <= max length), `max_length`. Records are prefix-stable: the first K of N are the K records
a run of K would make, so `--limit` and the cache agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from longeval.benchmarks.ruler import cwe, fwe, niah, qa, vt
from longeval.benchmarks.ruler.cache import RecordCache
from longeval.benchmarks.ruler.definitions import RulerTask
from longeval.benchmarks.ruler.fill import Counter, Frame, Sample
from longeval.benchmarks.ruler.inputs import RulerInputs
from longeval.errors import UserError

DEFAULT_SEED = 42  # RULER's prepare.py default
DEFAULT_SAMPLES = 100
# RULER's own model templates that longeval's chat wrappers map to ('none' is RULER's 'base').
META_CHAT = Frame("[INST] ", " [/INST]", "meta-chat")
_SENTINEL = "\x00RULER_TASK\x00"


def frame_for(wrapper: str, tokenizer: Any) -> Frame:
    """The frame of longeval's chat wrapper choice: none -> RULER 'base', llama2 -> RULER 'meta-chat',
    hf -> the model's own chat template rendered around the task (generation prompt added)."""
    if wrapper == "none":
        return Frame()
    if wrapper == "llama2":
        return META_CHAT
    if wrapper == "hf":
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": _SENTINEL}], tokenize=False,
                                                 add_generation_prompt=True)
        if rendered.count(_SENTINEL) != 1:
            raise UserError("the model's chat template does not show the user message once; use --chat-template "
                            "none or llama2")
        head, tail = rendered.split(_SENTINEL)
        return Frame(head, tail, "hf")
    raise UserError(f"unknown chat wrapper {wrapper!r} (choose from hf, llama2, none)")


def token_counter(tokenizer: Any) -> Counter:
    """RULER's HFTokenizer.text_to_tokens length: tokenize() without special tokens."""
    if hasattr(tokenizer, "tokenize"):
        return lambda text: len(tokenizer.tokenize(text))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of what decides token counts: the fast tokenizer's full JSON (else its vocabulary and class)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        body = backend.to_str()
    elif hasattr(tokenizer, "get_vocab"):
        body = type(tokenizer).__name__ + json.dumps(sorted(tokenizer.get_vocab().items()))
    else:
        raise UserError("RULER records need a tokenizer with a vocabulary (a Hugging Face tokenizer)")
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def generate_samples(task: RulerTask, count: Counter, max_length: int, seed: int, num_samples: int, frame: Frame,
                     inputs: RulerInputs) -> list[Sample]:
    """The task's generator, given the inputs it needs (a missing one is refused in one line)."""
    missing = inputs.missing(task)
    if missing:
        raise UserError(missing)
    if max_length <= task.tokens_to_generate:
        raise UserError(f"{task.name}: --max-length {max_length} leaves no room for the prompt "
                        f"(it generates {task.tokens_to_generate} tokens)")
    if task.generator == "niah":
        essays = inputs.essays() if task.needs_essays else None
        return niah.generate(task, count, max_length, seed, num_samples, frame, essays)
    if task.generator == "qa":
        assert task.qa_dataset is not None
        return qa.generate(task, count, max_length, seed, num_samples, frame, inputs.qa(task.qa_dataset))
    makers: dict[str, Callable[..., list[Sample]]] = {
        "variable_tracking": vt.generate, "common_words_extraction": cwe.generate,
        "freq_words_extraction": fwe.generate}
    return makers[task.generator](task, count, max_length, seed, num_samples, frame)


def to_records(task: RulerTask, samples: list[Sample], max_length: int) -> list[dict[str, Any]]:
    return [{"_id": f"{task.ruler_name}-{max_length}-{i}", "index": i, "input": s.input,
             "answer_prefix": s.answer_prefix, "outputs": s.outputs, "length": s.length, "max_length": max_length}
            for i, s in enumerate(samples)]


def cache_key(task: RulerTask, fingerprint: str, max_length: int, seed: int, frame: Frame,
              haystack: dict[str, Any]) -> dict[str, Any]:
    """Everything a task's records depend on (the cache file is named by its digest)."""
    return {"task": task.digest(), "tokenizer": fingerprint, "max_length": max_length, "seed": seed,
            "frame": [frame.head, frame.tail], "haystack_sha256": haystack.get("sha256")}


def task_records(task: RulerTask, tokenizer: Any, max_length: int, *, seed: int = DEFAULT_SEED,
                 num_samples: int = DEFAULT_SAMPLES, wrapper: str = "none", inputs: RulerInputs | None = None,
                 cache: RecordCache | None = None) -> list[dict[str, Any]]:
    """The first `num_samples` records of `task` at `max_length`, from the cache when it holds them."""
    inputs = inputs or RulerInputs()
    missing = inputs.missing(task)
    if missing:
        raise UserError(missing)
    frame = frame_for(wrapper, tokenizer)
    key = cache_key(task, tokenizer_fingerprint(tokenizer), max_length, seed, frame, inputs.identity(task))
    if cache is not None:
        cached = cache.get(key, num_samples)
        if cached is not None:
            return cached
    samples = generate_samples(task, token_counter(tokenizer), max_length, seed, num_samples, frame, inputs)
    records = to_records(task, samples, max_length)
    if cache is not None:
        cache.put(key, records)
    return records
