"""Passkey retrieval: a five-digit key hidden at a chosen depth in filler text, generated to a token length.

The test of the context-extension papers (Mohtashami & Jaggi 2023, "Landmark Attention", arXiv 2305.16300,
Appendix; reused by the PI, YaRN and LongLoRA papers): repeated filler sentences with one line stating the key,
the question at the end. The filler and key sentences below are that test's wording, carried as data.

Records are generated per run, not downloaded: their size depends on the tokenizer and the run's prompt budget,
so each record is built to fill the budget (without going over, so the official middle truncation never cuts
it). Everything is seeded: the same tokenizer, budget and settings give the same records, keys and ids.
A task may list several `lengths` (fractions of the budget): one run, one engine, a whole length curve. Record
order is repeat, then depth (in the listed order, spread first), then length: `--limit K` counts records as for
any task, and a K that is a multiple of the number of lengths takes whole depth groups at every length.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.errors import UserError

INTRO = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
         "I will quiz you about the important information there.\n")
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
KEY_LINE = "The pass key is {key}. Remember it. {key} is the pass key. "
QUESTION = "\nWhat is the pass key? The pass key is"
DEFAULT_DEPTHS = (0.1, 0.5, 0.9, 0.3, 0.7)
DEFAULT_REPEATS = 4

_ID = re.compile(r"^passkey-(\d+)-d(\d+)-r(\d+)$")


@dataclass(frozen=True)
class PasskeySettings:
    """The generator's knobs, from the task's YAML (`generator:` block)."""

    depths: tuple[float, ...] = DEFAULT_DEPTHS
    repeats: int = DEFAULT_REPEATS
    seed: int = 0
    lengths: tuple[float, ...] = (1.0,)  # prompt lengths as fractions of the run's budget (a sweep in one run)

    @classmethod
    def from_data(cls, data: dict[str, Any], where: str) -> PasskeySettings:
        depths = tuple(data.get("depths", DEFAULT_DEPTHS))
        if not depths or not all(isinstance(d, int | float) and 0.0 <= d <= 1.0 for d in depths):
            raise UserError("depths must be a non-empty list of fractions in [0, 1]", path=where, field="depths")
        repeats = data.get("repeats", DEFAULT_REPEATS)
        if not isinstance(repeats, int) or repeats < 1:
            raise UserError("repeats must be a positive integer", path=where, field="repeats")
        seed = data.get("seed", 0)
        if not isinstance(seed, int):
            raise UserError("seed must be an integer", path=where, field="seed")
        lengths = tuple(data.get("lengths", (1.0,)))
        if not lengths or not all(isinstance(f, int | float) and 0.0 < f <= 1.0 for f in lengths):
            raise UserError("lengths must be a non-empty list of fractions in (0, 1]", path=where, field="lengths")
        return cls(tuple(float(d) for d in depths), repeats, seed, tuple(float(f) for f in lengths))


def record_id(tokens: int, depth: float, repeat: int) -> str:
    return f"passkey-{tokens}-d{round(depth * 100)}-r{repeat}"


def parse_id(record_id_text: str) -> tuple[int, float] | None:
    """(prompt tokens, depth) of a passkey record id; None for other ids."""
    match = _ID.match(record_id_text)
    return (int(match[1]), int(match[2]) / 100) if match else None


def _haystack(units: int, depth: float, key: str) -> str:
    """INTRO, `units` filler sentences with the key line after the first round(depth * units), the question."""
    before = round(depth * units)
    return INTRO + FILLER * before + KEY_LINE.format(key=key) + FILLER * (units - before)


def _count(text: str, tokenizer: Any) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def passkey_record(tokenizer: Any, tokens: int, depth: float, key: str, record_id_text: str) -> dict[str, Any]:
    """One record whose context + question is as many tokens as fit in `tokens` (at least the key and question)."""
    def fits(units: int) -> bool:
        return _count(_haystack(units, depth, key) + QUESTION, tokenizer) <= tokens

    # The most filler sentences that fit (token counts are not additive across joins, so search, don't divide).
    low, high = 0, max(1, 2 * tokens // max(1, _count(FILLER, tokenizer)) + 2)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    units = low
    context = _haystack(units, depth, key)
    return {"context": context, "input": QUESTION, "answers": [key], "all_classes": None,
            "length": tokens, "_id": record_id_text}


def generate(tokenizer: Any, budget: int, settings: PasskeySettings, limit: int | None = None) -> list[dict[str, Any]]:
    """The records of one passkey run at a prompt budget: repeats x depths x lengths, lengths innermost, so that a
    `--limit K` that is a multiple of the number of lengths takes whole (depth, all lengths) groups, depths in their
    listed order."""
    lengths = [int(budget * fraction) for fraction in settings.lengths]
    if min(lengths) < 64:
        raise UserError(f"passkey needs prompts of at least 64 tokens; the budget {budget} gives {min(lengths)}")
    cells = [(repeat, depth, tokens) for repeat in range(settings.repeats) for depth in settings.depths
             for tokens in lengths]
    records = []
    for repeat, depth, tokens in cells[:limit]:
        # Each key depends on its cell only: the same record whatever --limit or the other cells are.
        key = str(random.Random(f"passkey-{settings.seed}-{tokens}-{depth}-{repeat}").randint(10000, 99999))
        records.append(passkey_record(tokenizer, tokens, depth, key, record_id(tokens, depth, repeat)))
    return records


def first_number(text: str) -> str | None:
    match = re.search(r"\d+", text)
    return match[0] if match else None


def passkey_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """Exact match of the first number in the answer with the key ("12345." and "is 12345" count, "1234" not)."""
    return 1.0 if first_number(prediction) == ground_truth else 0.0


def generate_task(task: Any, limit: int | None, tokenizer: Any = None, budget: int | None = None,
                  **args: Any) -> list[dict[str, Any]]:
    """The registered generator (GENERATORS['passkey'] of benchmarks/longbench/data.py): records filling `budget`
    tokens."""
    if tokenizer is None or budget is None:
        raise UserError("passkey records are built per run from the tokenizer and prompt budget",
                        path=getattr(task, "path", None), field="generator")
    return generate(tokenizer, budget, PasskeySettings.from_data(args, str(getattr(task, "path", task.name))), limit)


def cell_scores(pred_file: Path) -> dict[tuple[int, float], float]:
    """Accuracy (x100) per (prompt tokens, depth) of one run's passkey predictions, for the length plots."""
    from longeval.io import iter_jsonl

    hits: dict[tuple[int, float], list[float]] = {}
    for _, line in iter_jsonl(pred_file):
        parsed = parse_id(str(line.get("_id", "")))
        answers = line.get("answers") or []
        if parsed is None or not answers:
            continue
        hits.setdefault(parsed, []).append(passkey_score(str(line.get("pred", "")), str(answers[0])))
    return {cell: round(100 * sum(v) / len(v), 2) for cell, v in sorted(hits.items())}
