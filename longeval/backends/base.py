"""The Backend protocol: what the runner needs from an inference engine, and nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from longeval.errors import UserError

# Accepted --dtype spellings -> canonical names ("auto": fp32 on CPU, bf16 on GPU; each backend resolves it).
DTYPES = {"auto": "auto", "float64": "float64", "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16",
          "bf16": "bfloat16", "float16": "float16", "fp16": "float16"}


def canonical_dtype(dtype: str) -> str:
    """The canonical name of a --dtype spelling (so fp32 and float32 are the same setting); UserError if unknown."""
    try:
        return DTYPES[dtype]
    except KeyError:
        raise UserError(f"unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})") from None


@dataclass(frozen=True)
class GenerationParams:
    """Greedy decoding rules of the official pred.py for one task."""

    max_new_tokens: int
    # Extra ids that end generation besides the tokenizer's EOS (samsum: the newline token).
    stop_token_ids: tuple[int, ...] = ()
    # samsum's official min_length = context_length + 1: EOS/stop ids are banned for the first token.
    min_new_tokens: int = 0
    # When set, these ids end generation INSTEAD of the model's own EOS ids: pred.py passes samsum
    # `eos_token_id=[tokenizer.eos_token_id, newline]`, which replaces the generation config's list (a model whose
    # generation config has extra EOS ids, e.g. Llama-3's <|eot_id|>, does not stop at those on samsum).
    eos_token_ids: tuple[int, ...] | None = None


@dataclass
class Generation:
    """One prompt's output: the new token ids (stop token included if one ended it) and their text."""

    token_ids: list[int]
    # decode(token_ids, skip_special_tokens=True), no strip, as the official pred.py does.
    text: str
    stats: dict[str, float] = field(default_factory=dict)


class Backend(Protocol):
    """An engine with a context-extended model loaded. One instance per run; prompts are token ids."""

    name: str

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        """Greedy-decode every prompt (batched as the engine sees fit); outputs in input order."""
        ...

    def versions(self) -> dict[str, str]:
        """Library versions that determine the outputs (for run.json provenance)."""
        ...

    def close(self) -> None:
        """Free the engine's memory and processes."""
        ...
