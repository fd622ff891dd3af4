"""RULER's variable tracking generator (scripts/data/synthetic/variable_tracking.py): chains of assignments
"VAR AAAAA = 12345", "VAR BBBBB = VAR AAAAA ", ... hidden in noise sentences; the answer is every variable of
the first chain. As in RULER, a one-shot example (itself a vt sample built for 500 tokens with 3-letter
variables and value 12345, then re-lettered and re-numbered per sample) is put before the task text.

Random draws (python's and numpy's legacy generator, both seeded) follow RULER's order, so with the same seed and
tokenizer the samples are RULER's, quirks included (a chain list can gain an extra chain when drawn names repeat).
"""

from __future__ import annotations

import random
import string
from typing import Any

import numpy as np

from longeval.benchmarks.ruler.definitions import RulerTask
from longeval.benchmarks.ruler.fill import Counter, Frame, Sample, draw_samples, fit_sample, largest_fitting
from longeval.benchmarks.ruler.haystacks import NOISE

ICL_MAX_LENGTH = 500  # RULER builds its one-shot example for this length


class VtMaker:
    """Draws vt samples (the number of noise sentences is the size) from RULER's shared random states."""

    def __init__(self, task: RulerTask, frame: Frame, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.RandomState(seed)
        self.num_chains, self.num_hops = int(task.args["num_chains"]), int(task.args["num_hops"])
        self.task = task
        self.template = frame.template(task.template, task.answer_prefix)
        self.is_icl = False
        self.example: str | None = None  # the one-shot example text, once built

    def chains(self) -> tuple[list[list[str]], list[list[str]]]:
        letters = 3 if self.is_icl else 5
        hops = min(10, self.num_hops) if self.is_icl else self.num_hops
        needed = (hops + 1) * self.num_chains
        names = ["".join(self.rng.choices(string.ascii_uppercase, k=letters)).upper() for _ in range(needed)]
        while len(set(names)) < needed:
            names.append("".join(self.rng.choices(string.ascii_uppercase, k=letters)).upper())
        variables, chains = [], []
        for i in range(0, len(names), hops + 1):
            these = names[i:i + hops + 1]
            variables.append(these)
            first = "12345" if self.is_icl else str(self.np_rng.randint(10000, 99999))
            chain = [f"VAR {these[0]} = {first}"]
            chain += [f"VAR {these[j + 1]} = VAR {these[j]} " for j in range(hops)]
            chains.append(chain)
        return variables, chains

    def __call__(self, num_noises: int) -> tuple[str, Any]:
        variables, chains = self.chains()
        value = chains[0][0].split("=")[-1].strip()
        sentences = [NOISE] * num_noises
        for chain in chains:
            positions = sorted(self.rng.sample(range(len(sentences)), len(chain)))
            for j, position in enumerate(positions):
                sentences.insert(position + j, chain[j])
        context = "\n".join(sentences).replace(". \n", ".\n")
        # RULER's example is built without the chat wrapper: the bare task template and answer prefix.
        template = self.task.template + self.task.answer_prefix if self.is_icl else self.template
        text = template.format(context=context, query=value, num_v=self.num_hops + 1)
        if self.example is not None:
            cutoff = text.index(self.task.template[:20])
            text = text[:cutoff] + self.randomized_example() + "\n" + text[cutoff:]
        return text, variables[0]

    def randomized_example(self) -> str:
        """RULER's randomize_icl: new letters for the example's answer variables, a new value for 12345."""
        assert self.example is not None
        example = self.example
        for item in example.strip().split()[-self.num_hops - 1:]:
            example = example.replace(item, "".join(self.rng.choices(string.ascii_uppercase, k=len(item))).upper())
        return example.replace("12345", str(self.np_rng.randint(10000, 99999)))


def _search(make: VtMaker, count: Counter, max_length: int, limit: int, step: int) -> int:
    text, _ = make(step)
    per_unit = count(text) / step
    upper = max(int((max_length / per_unit) * 3), step * 2)
    return largest_fitting(make, count, limit, step, upper) or step


def generate(task: RulerTask, count: Counter, max_length: int, seed: int, num_samples: int,
             frame: Frame) -> list[Sample]:
    """RULER's vt samples for one max length: first the one-shot example (500 tokens), then the samples."""
    make = VtMaker(task, frame, seed)
    # The example: one sample of 3-letter variables at 500 tokens, nothing to generate, searched in steps of 5.
    make.is_icl = True
    size = _search(make, count, ICL_MAX_LENGTH, ICL_MAX_LENGTH, 5)
    text, outputs, _ = fit_sample(make, count, ICL_MAX_LENGTH, size, 5, task.name)
    make.is_icl = False
    example = text + " " + " ".join(outputs) + "\n"
    example_tokens = count(example)
    step = 5 if max_length < 4096 else 10
    limit = max_length - task.tokens_to_generate
    size = _search(make, count, max_length, limit - example_tokens, step)  # the search leaves the example out
    make.example = example
    return draw_samples(make, count, limit, size, step, task, num_samples)

