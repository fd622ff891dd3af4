"""GGUF checkpoints as --model: converted once into a plain Hugging Face checkpoint, cached by the file's sha256.

Both engines need a Hugging Face folder (vLLM's CPU build cannot serve GGUF; transformers de-quantizes GGUF at
every load, ~15 s). transformers 5 loads a GGUF file but refuses `save_pretrained` on it, so the de-quantized
weights are moved into a fresh model of the same config and saved from there, in float32: de-quantized values
(a fp16 scale times a small integer, plus a fp16 offset) are not all representable in bf16, and float32 keeps
them exactly, so the checkpoint means what the GGUF file means.

The cache folder is `<cache>/gguf/<sha256 prefix>`; a conversion is built in a staging folder and renamed into
place, so an interrupted conversion leaves nothing that looks finished. run.json records the source file, its
sha256 and quantization type (`gguf_source`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from longeval.cache import cache_root
from longeval.errors import UserError
from longeval.io import usual_modes

SOURCE_FILE = "longeval_gguf_source.json"  # written into the converted folder: where it came from


@dataclass(frozen=True)
class GGUFSource:
    """What run.json records about a GGUF input."""

    file: str  # the .gguf path as resolved
    sha256: str
    quant_type: str  # e.g. MOSTLY_Q4_1 (gguf's general.file_type), or the tensors' type when the field is absent
    architecture: str


def find_gguf(model: str | Path) -> Path | None:
    """The .gguf file --model names (the file itself, or a folder without config.json holding exactly one);
    None when --model is an ordinary checkpoint folder."""
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise UserError("GGUF file not found", path=path)
        return path
    if path.is_dir() and not (path / "config.json").is_file():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise UserError(f"holds several .gguf files ({names}); name one in --model", path=path)
        return found[0] if found else None
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_gguf(path: Path) -> tuple[str, str]:
    """(architecture, quantization type) from the file's header; a file gguf cannot parse is a UserError."""
    from gguf import GGUFReader, LlamaFileType

    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # noqa: BLE001 - truncated/garbled files raise ValueError, struct or numpy errors
        raise UserError(f"not a readable GGUF file ({type(exc).__name__}: {str(exc)[:120]})", path=path) from None

    def field(name: str) -> Any:
        entry = reader.fields.get(name)
        return None if entry is None else entry.contents()

    architecture = field("general.architecture")
    if not isinstance(architecture, str):
        raise UserError("GGUF file has no general.architecture", path=path)
    file_type = field("general.file_type")
    try:
        quant = LlamaFileType(int(file_type)).name if file_type is not None else None
    except ValueError:
        quant = f"file_type {file_type}"
    if quant is None:
        kinds = sorted({tensor.tensor_type.name for tensor in reader.tensors})
        quant = "+".join(kinds) or "unknown"
    return architecture, quant


def resolve_model(model: str | Path, *, echo=print) -> tuple[Path, GGUFSource | None]:
    """The checkpoint folder to use for --model, converting (once) when it names a GGUF file."""
    gguf_path = find_gguf(model)
    if gguf_path is None:
        folder = Path(model).expanduser()
        recorded = folder / SOURCE_FILE  # a folder converted earlier, given directly: keep its provenance
        if recorded.is_file():
            return folder, GGUFSource(**json.loads(recorded.read_text(encoding="utf-8")))
        return folder, None
    gguf_path = gguf_path.resolve()
    sha = file_sha256(gguf_path)
    target = cache_root() / "gguf" / sha[:32]
    if (target / SOURCE_FILE).is_file():
        recorded = json.loads((target / SOURCE_FILE).read_text(encoding="utf-8"))
        return target, GGUFSource(**{**recorded, "file": str(gguf_path)})
    architecture, quant = inspect_gguf(gguf_path)
    source = GGUFSource(file=str(gguf_path), sha256=sha, quant_type=quant, architecture=architecture)
    echo(f"converting {gguf_path.name} ({quant}) into a Hugging Face checkpoint, once: {target}")
    convert(gguf_path, target, source)
    return target, source


def convert(gguf_path: Path, target: Path, source: GGUFSource) -> None:
    """De-quantize `gguf_path` with transformers and save it as a float32 checkpoint at `target` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    folder, name = str(gguf_path.parent), gguf_path.name
    transformers_logging.set_verbosity_error()  # the GGUF loader logs every tensor it de-quantizes
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - unsupported architecture, damaged tensor data, ...
        raise UserError(f"transformers cannot load this GGUF file ({type(exc).__name__}: {str(exc)[:160]})",
                        path=gguf_path) from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the reason save_pretrained refuses a GGUF-loaded model
    config.dtype = torch.float32
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), assign=True)
    plain.tie_weights()
    generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        plain.generation_config = generation_config
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / SOURCE_FILE).write_text(json.dumps(asdict(source), indent=1), encoding="utf-8")
        usual_modes(staging)  # mkdtemp's folder is private, safetensors' weights 0600: others read this cache
        try:
            os.replace(staging, target)
        except OSError:  # another process finished the same conversion first: keep theirs
            if not (target / SOURCE_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
