"""Which checkpoint a run used: a digest of its weight files (names, sizes, contents), so a run folder belongs to
one set of weights and not merely to one config.json.

Hashing a 7B checkpoint reads ~14 GB, so each file's digest is cached: a resume or the next run of a sweep reads only
the files' stat. The cache may speed identity up but never decide it: an entry holds besides size and mtime (which
anyone can set back with `touch -d`) the inode and the ctime, which no user can set, so a file rewritten or replaced
in any way is hashed again. As git does for its index, an entry is only kept when the file's ctime was some seconds
old at hashing time: a change within the same clock tick as the hashing could otherwise leave the ctime unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from longeval.backends.base import WEIGHT_SUFFIXES
from longeval.io import write_json_atomic

# Files that hold (or map) a checkpoint's weights, in the formats transformers, vLLM and llama.cpp load.
INDEX_SUFFIX = ".index.json"
CACHE_FILE = "weight-digests.json"
# An entry is kept only for a file whose ctime is this much older than the hashing (timestamps are coarse).
RACY_NS = 2_000_000_000


def cache_dir() -> Path:
    """Where the weight-digest cache lives: longeval's cache root (longeval.cache), unless LONGEVAL_CACHE_DIR
    moves this one file elsewhere (the test suite keeps its digests to itself that way)."""
    from longeval.cache import cache_root

    explicit = os.environ.get("LONGEVAL_CACHE_DIR")
    return Path(explicit) if explicit else cache_root()


def weight_files(model_dir: Path) -> list[Path]:
    """The checkpoint's weight files and shard indexes, sorted by name (sub-folders are not weights)."""
    return sorted(p for p in model_dir.iterdir()
                  if p.is_file() and (p.name.endswith(WEIGHT_SUFFIXES) or p.name.endswith(INDEX_SUFFIX)))


def _stamp(stat: os.stat_result) -> dict[str, int]:
    """What must be unchanged for a cached digest to hold: size, mtime, and the unsettable inode and ctime."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
            "inode": stat.st_ino, "device": stat.st_dev}


def file_digest(path: Path, cache: dict[str, dict[str, object]]) -> str:
    """sha256 of one file, taken from `cache` when its stamp is unchanged (and stored there if not)."""
    key = str(path.resolve())
    stamp = _stamp(path.stat())
    hit = cache.get(key)
    if isinstance(hit, dict) and isinstance(hit.get("sha256"), str) and all(hit.get(k) == v for k, v in stamp.items()):
        return str(hit["sha256"])
    hashing_started = time.time_ns()
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        after = _stamp(os.fstat(handle.fileno()))
    if after == stamp and stamp["ctime_ns"] < hashing_started - RACY_NS:
        cache[key] = {**stamp, "sha256": digest}
    else:  # changed while being read, or too recently to tell a later change from this state
        cache.pop(key, None)
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
