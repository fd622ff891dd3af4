"""What every RULER generator shares: the prompt frame (chat wrapper + task template + answer prefix), RULER's
binary search for the largest haystack that fits the budget, and its per-sample retry that shrinks the haystack
until the drawn sample fits.

The budget is RULER's: the whole prompt (wrapper, task text, answer prefix) counted on the model's own tokenizer
plus the tokens to generate must not exceed the max length. Token counts are not additive across joins, so the
size is searched on real prompts, never divided out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from longeval.errors import UserError

Counter = Callable[[str], int]
# A generator's sample at a haystack size: the full prompt text (answer prefix included) and its references.
Maker = Callable[[int], tuple[str, Any]]
# How often a sample already at the smallest haystack is redrawn before the length is refused (RULER retries
# forever; a draw of other random needles may fit where the last did not).
MAX_REDRAWS = 100


@dataclass(frozen=True)
class Frame:
    """The chat wrapper around RULER's task template: `head + task + tail`, then the answer prefix.

    RULER's own model templates ('base' is empty; 'meta-chat' is "[INST] " / " [/INST]") and a model's chat
    template (rendered around a placeholder) both take this form, so the answer prefix always ends the prompt.
    """

    head: str = ""
    tail: str = ""
    name: str = "base"

    def template(self, task_template: str, answer_prefix: str) -> str:
        """RULER's prepare.py: model_template.format(task_template=...) + answer_prefix, ready for str.format."""
        return _escape(self.head) + task_template + _escape(self.tail) + answer_prefix


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def split_answer_prefix(text: str, answer_prefix: str) -> tuple[str, str]:
    """RULER's split of a filled prompt: the last occurrence of the prefix's first 10 characters starts it."""
    index = text.rfind(answer_prefix[:10])
    return text[:index], text[index:]


@dataclass(frozen=True)
class Sample:
    """One generated RULER sample: `input` (the prompt up to the answer prefix), the prefix, references, length."""

    input: str
    answer_prefix: str
    outputs: list[str]
    length: int  # prompt tokens + tokens to generate, as RULER records it


def largest_fitting(make: Maker, count: Counter, limit: int, lower: int, upper: int) -> int | None:
    """RULER's binary search: the largest size in [lower, upper] whose sample has at most `limit` tokens (None if
    none does). Each probe draws a sample, advancing the random state exactly as RULER's search does."""
    best = None
    while lower <= upper:
        middle = (lower + upper) // 2
        text, _ = make(middle)
        if count(text) <= limit:
            best, lower = middle, middle + 1
        else:
            upper = middle - 1
    return best


def fit_sample(make: Maker, count: Counter, limit: int, size: int, step: int, where: str) -> tuple[str, Any, int]:
    """RULER's per-sample loop: draw at `size`; while the sample is over `limit` tokens (or cannot be drawn at that
    size), draw again `step` smaller, down to `step`. Returns (text, references, tokens)."""
    redraws = 0
    while True:
        try:
            text, outputs = make(size)
            tokens = count(text)
            if tokens <= limit:
                return text, outputs, tokens
        except ValueError:  # e.g. more needles than haystack positions: RULER's bare except shrinks and retries
            pass
        if size > step:
            size -= step
            continue
        redraws += 1
        if redraws > MAX_REDRAWS:
            raise UserError(f"{where}: no sample fits this max length even with the smallest haystack; "
                            "use a larger --max-length")


def draw_samples(make: Maker, count: Counter, limit: int, size: int, step: int, task: Any,
                 num_samples: int) -> list[Sample]:
    """`num_samples` samples at the searched `size` (each shrunk as RULER's loop does), split at the answer prefix."""
    samples = []
    for _ in range(num_samples):
        text, outputs, tokens = fit_sample(make, count, limit, size, step, task.name)
        prompt, prefix = split_answer_prefix(text, task.answer_prefix)
        samples.append(Sample(prompt, prefix, list(outputs), tokens + task.tokens_to_generate))
    return samples
