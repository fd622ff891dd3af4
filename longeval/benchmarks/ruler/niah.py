"""RULER's needle-in-a-haystack generator (scripts/data/synthetic/niah.py): keys and values drawn as words,
7-digit numbers or UUIDs, needles "One of the special magic {type} for {key} is: {value}." hidden in noise
sentences, essay sentences or other needles, asked about 1 or more keys.

The random state is consumed in RULER's order (keys and values, the needle shuffle with a fresh Random(seed),
positions, queried keys) by every probe of the size search and every sample, so with the same seed, tokenizer
and haystack the samples are RULER's.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from longeval.benchmarks.ruler.definitions import RulerTask
from longeval.benchmarks.ruler.fill import Counter, Frame, Sample, draw_samples, largest_fitting
from longeval.benchmarks.ruler.haystacks import NEEDLE, NOISE, Essays, split_sentences
from longeval.benchmarks.ruler.words import niah_words

# The depths (percent) a needle may be put at in the essay haystack: 40 evenly spaced, rounded.
DEPTHS = [int(d) for d in np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int)]


def single_answer(template: str) -> str:
    """RULER's wording for one needle asked about: 'Some ... are' -> 'A ... is', 'answers' -> 'answer'."""
    return (template.replace("Some", "A").replace("are all", "is").replace("are", "is")
            .replace("answers", "answer"))


class NiahMaker:
    """Draws niah samples at a haystack size from one shared random state."""

    def __init__(self, task: RulerTask, frame: Frame, seed: int, essays: Essays | None) -> None:
        args = task.args
        self.seed = seed
        self.rng = random.Random(seed)
        self.haystack = str(args["type_haystack"])
        self.type_k, self.type_v = str(args["type_needle_k"]), str(args["type_needle_v"])
        self.num_q, self.num_v = int(args["num_needle_q"]), int(args["num_needle_v"])
        self.num_k = max(int(args["num_needle_k"]), self.num_q)
        self.single = self.num_q * self.num_v == 1
        template, prefix = task.template, task.answer_prefix
        if self.single:  # RULER rewrites its whole template; here only RULER's own text (see the package docs)
            template, prefix = single_answer(template), single_answer(prefix)
        self.template = frame.template(template, prefix)
        self.words: Sequence[str] = niah_words() if "words" in (self.type_k, self.type_v) else ()
        self.essay_words: tuple[str, ...] = essays.words if essays is not None else ()

    def draw(self, kind: str) -> str:
        if kind == "numbers":
            return str(self.rng.randint(10 ** 6, 10 ** 7 - 1))
        if kind == "words":
            return self.rng.choice(self.words)
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _essay_context(self, num_haystack: int, needles: list[str]) -> str:
        words = self.essay_words
        if num_haystack <= len(words):
            text = " ".join(words[:num_haystack])
        else:
            repeats = (num_haystack + len(words) - 1) // len(words)
            text = " ".join((list(words) * repeats)[:num_haystack])
        sentences = split_sentences(text.strip())
        depths = self.rng.sample(DEPTHS, len(needles))
        positions = [0] + sorted(int(len(sentences) * (depth / 100)) for depth in depths) + [len(sentences)]
        parts = []
        for i in range(1, len(positions)):
            parts.append(" ".join(sentences[positions[i - 1]:positions[i]]))
            if i - 1 < len(needles):
                parts.append(needles[i - 1])
        return " ".join(parts)

    def _line_context(self, num_haystack: int, needles: list[str]) -> str:
        if self.haystack == "noise":
            sentences = [NOISE] * num_haystack
        else:
            sentences = [NEEDLE.format(type_needle_v=self.type_v, key=self.draw(self.type_k),
                                       value=self.draw(self.type_v)) for _ in range(num_haystack)]
        for index, needle in zip(sorted(self.rng.sample(range(num_haystack), len(needles)), reverse=True), needles,
                                 strict=False):
            sentences.insert(index, needle)
        return "\n".join(sentences)

    def __call__(self, num_haystack: int) -> tuple[str, Any]:
        keys: list[str] = []
        values: list[list[str]] = []
        needles: list[str] = []
        for _ in range(self.num_k):
            keys.append(self.draw(self.type_k))
            value: list[str] = []
            for _ in range(self.num_v):
                value.append(self.draw(self.type_v))
                needles.append(NEEDLE.format(type_needle_v=self.type_v, key=keys[-1], value=value[-1]))
            values.append(value)
        random.Random(self.seed).shuffle(needles)
        if self.haystack == "essay":
            context = self._essay_context(num_haystack, needles)
        else:
            context = self._line_context(num_haystack, needles)
        indices = self.rng.sample(range(self.num_k), self.num_q)
        queries = [keys[i] for i in indices]
        answers = [a for i in indices for a in values[i]]
        query = ", ".join(queries[:-1]) + ", and " + queries[-1] if len(queries) > 1 else queries[0]
        type_v = self.type_v[:-1] if self.single else self.type_v
        return self.template.format(type_needle_v=type_v, context=context, query=query), answers


def generate(task: RulerTask, count: Counter, max_length: int, seed: int, num_samples: int, frame: Frame,
             essays: Essays | None = None) -> list[Sample]:
    """RULER's niah samples for one max length (prompt tokens + tokens to generate <= max_length)."""
    make = NiahMaker(task, frame, seed, essays)
    step = {"essay": 500, "noise": 25, "needle": 25}[make.haystack]
    if make.haystack != "essay" and max_length < 4096:
        step = 5
    limit = max_length - task.tokens_to_generate
    text, _ = make(step)
    per_unit = count(text) / step
    upper = max(int((max_length / per_unit) * 3), step * 2)
    size = largest_fitting(make, count, limit, step, upper) or step
    return draw_samples(make, count, limit, size, step, task, num_samples)
