"""The one checkpoint resolver of every command that takes a model (run, prompts, extend, serve, entropy,
finetune, ppl): a local folder, a GGUF file (converted once into the cache, longeval.gguf) or a hub id
`org/name[@revision]` (from the Hugging Face cache or downloaded, longeval.hub) all become a checkpoint folder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from longeval.errors import UserError
from longeval.gguf import GGUFSource
from longeval.hub import ResolvedModel


@dataclass(frozen=True)
class Checkpoint:
    folder: Path  # a Hugging Face checkpoint folder (config.json, weights, tokenizer)
    name: str  # what tables call it: the folder's, the hub repository's or the GGUF file's name
    hub: ResolvedModel  # where it came from (hub provenance for run.json)
    gguf: GGUFSource | None = None  # the GGUF file it was converted from, if any


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def resolve_checkpoint(spec: str | Path, *, echo: Callable[[str], None] = _stderr) -> Checkpoint:
    """--model as every command reads it; `echo` hears about a conversion or download (stderr by default, so
    that a command's stdout stays its output)."""
    from longeval.gguf import resolve_model as resolve_gguf
    from longeval.hub import resolve_model as resolve_hub

    resolved = resolve_hub(str(spec))
    if not resolved.path.exists():  # at once: a tokenizer or model loader would try the hub with it, for a minute
        raise UserError("no such checkpoint folder or .gguf file", path=resolved.path)
    folder, gguf = resolve_gguf(resolved.path, echo=echo)
    return Checkpoint(folder=folder, name=Path(gguf.file).stem if gguf else resolved.name, hub=resolved, gguf=gguf)
