"""Which checkpoint a run used: a digest of its weight files (names, sizes, contents), so a run folder belongs to
one set of weights and not merely to one config.json.

Hashing a 7B checkpoint reads ~14 GB, so each file's digest is cached by (resolved path, size, mtime): a resume or
the next run of a sweep reads only the file sizes. A file rewritten in place gets a new mtime and is hashed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from longeval.io import write_json_atomic

# Files that hold (or map) a checkpoint's weights, in the formats transformers, vLLM and llama.cpp load.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
INDEX_SUFFIX = ".index.json"
CACHE_FILE = "weight-digests.json"


def cache_dir() -> Path:
    """LONGEVAL_CACHE_DIR, else $XDG_CACHE_HOME/longeval, else ~/.cache/longeval."""
    explicit = os.environ.get("LONGEVAL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "longeval"


def weight_files(model_dir: Path) -> list[Path]:
    """The checkpoint's weight files and shard indexes, sorted by name (sub-folders are not weights)."""
    return sorted(p for p in model_dir.iterdir()
                  if p.is_file() and (p.name.endswith(WEIGHT_SUFFIXES) or p.name.endswith(INDEX_SUFFIX)))


def file_digest(path: Path, cache: dict[str, dict[str, object]]) -> str:
    """sha256 of one file, taken from `cache` when its size and mtime are unchanged (and stored there if not)."""
    stat = path.stat()
    key = str(path.resolve())
    hit = cache.get(key)
    if isinstance(hit, dict) and hit.get("size") == stat.st_size and hit.get("mtime_ns") == stat.st_mtime_ns:
        return str(hit["sha256"])
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    return digest


def weights_fingerprint(model_dir: Path) -> str:
    """One sha256 over (name, size, content sha256) of every weight file; "" names no weights at all."""
    files = weight_files(model_dir)
    cache_path = cache_dir() / CACHE_FILE
    cache = _read_cache(cache_path)
    before = json.dumps(cache, sort_keys=True)
    lines = [f"{p.name}\t{p.stat().st_size}\t{file_digest(p, cache)}\n" for p in files]
    if json.dumps(cache, sort_keys=True) != before:
        with contextlib.suppress(Exception):  # a read-only home only costs the next run the hashing time
            write_json_atomic(cache_path, cache, indent=0)
    return hashlib.sha256("".join(lines).encode()).hexdigest() if files else ""


def _read_cache(path: Path) -> dict[str, dict[str, object]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
