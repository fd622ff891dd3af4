"""RULER's common words extraction generator (scripts/data/synthetic/common_words_extraction.py): a numbered list
in which 10 words appear 30 times and the others 3 times (6 and 1 below 4096 tokens), after a one-shot example;
the answer is the 10 common words. Words come from wonderwords' nouns, adjectives and verbs, shuffled with the seed.

Past ~8,000 distinct words (lengths above ~100k tokens) RULER draws from its english_words.json instead, a file
not available here: such a length is refused. Random draws follow RULER's order.
"""

from __future__ import annotations

import random
from typing import Any

from longeval.benchmarks.ruler.definitions import RulerTask
from longeval.benchmarks.ruler.fill import Counter, Frame, Sample, draw_samples, largest_fitting
from longeval.benchmarks.ruler.words import cwe_words
from longeval.errors import UserError

ESTIMATE_WORDS = 4096  # RULER measures tokens per word on a list of this many words
STEP = 10


class CweMaker:
    """Draws cwe samples (the number of distinct words is the size) from RULER's shared random state."""

    def __init__(self, task: RulerTask, frame: Frame, seed: int, max_length: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.task = task
        self.template = frame.template(task.template, task.answer_prefix)
        self.words = list(cwe_words())
        random.Random(seed).shuffle(self.words)
        self.short = max_length < 4096
        self.num_cw = int(task.args["num_cw"])

    def example(self, num_words: int, common_repeats: int, uncommon_repeats: int) -> tuple[str, list[str]]:
        if num_words > len(self.words):
            raise UserError(f"{self.task.name}: this length needs {num_words} distinct words; RULER draws past "
                            f"{len(self.words)} from its english_words.json, which longeval does not have")
        chosen = self.rng.sample(self.words, num_words)
        common, uncommon = chosen[:self.num_cw], chosen[self.num_cw:]
        listed = common * common_repeats + uncommon * uncommon_repeats
        random.Random(self.seed).shuffle(listed)
        return " ".join(f"{i + 1}. {word}" for i, word in enumerate(listed)), common

    def __call__(self, num_words: int) -> tuple[str, Any]:
        args = self.task.args
        shots = []
        for _ in range(int(args["num_fewshot"])):
            shots.append(self.example(20, 3, 1) if self.short else self.example(40, 10, 3))
        if self.short:
            context, answer = self.example(num_words, 6, 1)
        else:
            context, answer = self.example(num_words, int(args["freq_cw"]), int(args["freq_ucw"]))
        rendered = [self.template.format(num_cw=self.num_cw, context=shot, query="") + " " +
                    " ".join(f"{i + 1}. {word}" for i, word in enumerate(common)) for shot, common in shots]
        text = self.template.format(num_cw=self.num_cw, context=context, query="")
        return "\n".join(rendered) + "\n" + text, answer


def generate(task: RulerTask, count: Counter, max_length: int, seed: int, num_samples: int,
             frame: Frame) -> list[Sample]:
    """RULER's cwe samples for one max length."""
    make = CweMaker(task, frame, seed, max_length)
    limit = max_length - task.tokens_to_generate
    text, _ = make(ESTIMATE_WORDS)
    per_word = count(text) / ESTIMATE_WORDS
    upper = max(int(max_length // per_word) * 2, STEP * 2)
    size = largest_fitting(make, count, limit, STEP, upper) or STEP
    return draw_samples(make, count, limit, size, STEP, task, num_samples)
