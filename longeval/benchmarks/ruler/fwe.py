"""RULER's frequent words extraction generator (scripts/data/synthetic/freq_words_extraction.py): random 6-letter
"coded words" whose counts follow a Zipf law (count of the k-th word = n k^-alpha / zeta(alpha)); the most
frequent is replaced by the noise '...', and the answer is the next three.

RULER's sizing differs from the other tasks: the word count grows from max_length/6 in steps of max_length/32
until the text reaches the budget, one step back; each sample then steps down while it is over. zeta comes from
scipy in RULER; `zeta` below is the same function (equal to scipy's value for RULER's alpha = 2.0).
"""

from __future__ import annotations

import math
import random
import string
from typing import Any

import numpy as np

from longeval.benchmarks.ruler.definitions import RulerTask
from longeval.benchmarks.ruler.fill import Counter, Frame, Sample, split_answer_prefix


def zeta(alpha: float) -> float:
    """The Riemann zeta function for alpha > 1: pi^2/6 exactly for 2, else Euler-Maclaurin after 64 terms."""
    if alpha == 2.0:
        return math.pi ** 2 / 6
    if alpha <= 1.0:
        raise ValueError("zeta(alpha) diverges for alpha <= 1")
    n = 64
    head = math.fsum(k ** -alpha for k in range(1, n))
    tail = n ** (1 - alpha) / (alpha - 1) + n ** -alpha / 2 + alpha * n ** (-alpha - 1) / 12 \
        - alpha * (alpha + 1) * (alpha + 2) * n ** (-alpha - 3) / 720
    return head + tail


class FweMaker:
    """RULER's generate_input_output for fwe: a fresh coded vocabulary per call, texts at word counts."""

    def __init__(self, task: RulerTask, frame: Frame, seed: int, vocab_size: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.template = frame.template(task.template, task.answer_prefix)
        self.alpha = float(task.args["alpha"])
        self.word_length = int(task.args["coded_wordlen"])
        self.vocab_size = vocab_size
        self.vocab: list[str] = []

    def new_vocab(self) -> None:
        letters = string.ascii_lowercase
        vocab = ["".join(self.rng.choices(letters, k=self.word_length)) for _ in range(self.vocab_size)]
        while len(set(vocab)) < self.vocab_size:
            vocab.append("".join(self.rng.choices(letters, k=self.word_length)))
        vocab = sorted(set(vocab))
        random.Random(self.seed).shuffle(vocab)
        vocab[0] = "..."  # the top-ranked word is noise
        self.vocab = vocab

    def text(self, num_words: int) -> tuple[str, Any]:
        k = np.arange(1, len(self.vocab) + 1)
        counts = (num_words * (k ** -self.alpha) / zeta(self.alpha)).astype(int)
        words = [word for word, n in zip(self.vocab, counts, strict=True) for _ in range(n)]
        random.Random(self.seed).shuffle(words)
        return self.template.format(context=" ".join(words), query=""), self.vocab[1:4]

    def sized(self, limit: int, num_words: int, step: int, count: Counter) -> tuple[str, Any, int, int]:
        """A new vocabulary, then RULER's search: up from limit/6 words (num_words < 0) or down from num_words.
        Returns (text, answer, words, tokens); tokens is -1 after the upward search (that text is not counted)."""
        self.new_vocab()
        tokens = -1
        if num_words > 0:
            text, answer = self.text(num_words)
            tokens = count(text)
            while tokens > limit:
                num_words -= step
                text, answer = self.text(num_words)
                tokens = count(text)
        else:
            num_words = limit // self.word_length
            text, answer = self.text(num_words)
            while count(text) < limit:
                num_words += step
                text, answer = self.text(num_words)
            num_words -= step
            text, answer = self.text(num_words)
        return text, answer, num_words, tokens


def generate(task: RulerTask, count: Counter, max_length: int, seed: int, num_samples: int,
             frame: Frame) -> list[Sample]:
    """RULER's fwe samples for one max length."""
    limit = max_length - task.tokens_to_generate
    vocab_size = int(task.args["vocab_size"])
    make = FweMaker(task, frame, seed, limit // 50 if vocab_size == -1 else vocab_size)
    step = max(1, limit // 32)
    _, _, num_words, _ = make.sized(limit, -1, step, count)
    samples = []
    for _ in range(num_samples):
        text, outputs, _, tokens = make.sized(limit, num_words, step, count)
        prompt, prefix = split_answer_prefix(text, task.answer_prefix)
        samples.append(Sample(prompt, prefix, list(outputs), tokens + task.tokens_to_generate))
    return samples
