"""What the RULER test files share: where RULER's reference files are (../shared, for the tests that run its code
as the oracle), and a real byte-level BPE tokenizer from the `tokenizers` library, so the fast lane builds RULER
prompts without transformers (the tokenizer is trained here; the engine tests use the model's own)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def ruler_reference() -> Path | None:
    """../shared/reference/ruler beside the checkout or a folder above it (git worktrees), if present."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / "reference" / "ruler"
        if candidate.is_dir():
            return candidate
    return None


def essays_folder() -> Path | None:
    reference = ruler_reference()
    return reference / "essays" if reference is not None and (reference / "essays").is_dir() else None


_CORPUS = [
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.",
    "Some special magic numbers are hidden within the following text. Make sure to memorize it.",
    "One of the special magic numbers for long-context is: 1234567. What are all the special magic uuids?",
    "Memorize and track the chain(s) of variable assignment hidden in the following text. VAR ABCDE = 12345",
    "Below is a numbered list of words. In these words, some appear more often than others. 1. apple 2. pear",
    "Read the following coded text and track the frequency of each coded word. Answer: According to the",
    "Answer the question based on the given documents. Only give me the answer. Document 1: Paris is in France.",
    "It was a bright cold day in April, and the clocks were striking thirteen. Startups grow fast; most die.",
]


class BpeTokenizer:
    """A tokenizer with the methods RULER's generation uses (tokenize, backend_tokenizer, apply_chat_template)."""

    chat_template = "<|user|>\n{content}<|end|>\n<|assistant|>\n"

    def __init__(self, vocab_size: int = 600) -> None:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token=None))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tokenizer.train_from_iterator(_CORPUS * 20, trainer=trainer)
        self.backend_tokenizer = tokenizer

    def tokenize(self, text: str) -> list[str]:
        return self.backend_tokenizer.encode(text, add_special_tokens=False).tokens

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = True) -> Any:
        assert not tokenize and add_generation_prompt
        return self.chat_template.format(content=messages[0]["content"])


@functools.cache
def bpe_tokenizer() -> BpeTokenizer:
    return BpeTokenizer()
