"""The Backend protocol: what the runner needs from an inference engine, and nothing more."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

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


# Weight files transformers and vLLM load from a checkpoint folder (single file or shards named by an index).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def require_weights(model_dir: str | Path) -> None:
    """A checkpoint folder must hold its weights (and every shard its index names) before an engine is built.

    Both engines would otherwise fail deep inside their loaders, with a traceback, after the run has started.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        return  # not a local folder: the engine resolves it (and names what is wrong)
    indexes = sorted(folder.glob("*.index.json"))
    for index in indexes:
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        except (OSError, ValueError, AttributeError):
            raise UserError("unreadable shard index (expected JSON with a weight_map)", path=index) from None
        missing = sorted({str(name) for name in weight_map.values()} - {p.name for p in folder.iterdir()})
        if missing:
            raise UserError(f"shard(s) named by this index are missing: {', '.join(missing[:3])}"
                            + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""), path=index)
    if not indexes and not any(p.is_file() and p.name.endswith(WEIGHT_SUFFIXES) for p in folder.iterdir()):
        raise UserError(f"no weight files in this model folder (looked for {', '.join(WEIGHT_SUFFIXES)})",
                        path=folder)
    for weights in sorted(folder.glob("*.safetensors")):
        check_safetensors(weights)


def check_safetensors(path: Path) -> None:
    """A .safetensors file whose header does not parse or whose tensors reach past its end (a damaged or
    truncated copy) is a UserError naming it; the loaders would fail with a traceback (or read garbage)."""
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            size = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            total = os.fstat(handle.fileno()).st_size
            if not 2 <= size <= total - 8:
                raise ValueError("header length past the end of the file")
            header = json.loads(handle.read(size))
        ends = [int(info["data_offsets"][1]) for name, info in header.items() if name != "__metadata__"]
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise UserError(f"damaged safetensors file ({exc})", path=path) from None
    if 8 + size + max(ends, default=0) > total:
        raise UserError(f"truncated safetensors file: its tensors need {8 + size + max(ends)} bytes, it has {total}",
                        path=path)


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


class Backend(Protocol):
    """An engine with a context-extended model loaded. One instance per run; prompts are token ids.

    Capabilities are class attributes, read without building an engine (longeval.backends.build.backend_class):
    `local_engine` (it runs the model on this machine's devices: a Ray task gives it GPUs, transformers' loading
    bars apply) and `accepted_options` (the keys of backends/options.py it takes; others are refused up front).
    A new backend is its module with such a class plus its line in build.BACKENDS.
    """

    name: ClassVar[str]
    local_engine: ClassVar[bool]
    accepted_options: ClassVar[frozenset[str]]

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        """Greedy-decode every prompt (batched as the engine sees fit); outputs in input order."""
        ...

    def versions(self) -> dict[str, str]:
        """Library versions that determine the outputs (for run.json provenance)."""
        ...

    def close(self) -> None:
        """Free the engine's memory and processes."""
        ...
