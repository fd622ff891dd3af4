"""Generated RULER records cached on disk, so a second run, another method or a resumed run does not regenerate.

Key: the task definition's digest, the tokenizer's fingerprint, the max length, the seed, the chat frame and the
haystack's sha256; the file `<cache>/ruler/<sha256 of the key>.jsonl` holds the key on its first line, then the
records. Records are prefix-stable, so a file of N records serves any request for K <= N; a larger request
regenerates and replaces it. Files are written atomically; an unreadable or mismatching file is a miss.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from longeval.io import write_atomic

FORMAT = 1  # bump when the record layout or a generator's output changes


def default_root() -> Path:
    from longeval.gguf import cache_root

    return cache_root() / "ruler"


class RecordCache:
    """A folder of cached record files (created on first write)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_root()
        self.hits = 0
        self.misses = 0

    def path(self, key: dict[str, Any]) -> Path:
        body = json.dumps({"format": FORMAT, **key}, sort_keys=True)
        return self.root / (hashlib.sha256(body.encode()).hexdigest()[:40] + ".jsonl")

    def get(self, key: dict[str, Any], count: int) -> list[dict[str, Any]] | None:
        path = self.path(key)
        try:
            with path.open(encoding="utf-8") as handle:
                head = json.loads(handle.readline())
                if head != {"format": FORMAT, **key}:
                    raise ValueError("another key")
                records: list[dict[str, Any]] = []
                for line in handle:
                    if len(records) == count:
                        break
                    records.append(json.loads(line))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if len(records) < count:
            self.misses += 1
            return None
        self.hits += 1
        return records

    def put(self, key: dict[str, Any], records: list[dict[str, Any]]) -> None:
        path = self.path(key)
        try:
            with path.open(encoding="utf-8") as handle:
                kept = sum(1 for _ in handle) - 1
        except OSError:
            kept = -1
        if kept >= len(records):
            return  # a longer prefix-stable file is already there
        lines = [json.dumps({"format": FORMAT, **key}, sort_keys=True)]
        lines += [json.dumps(record, ensure_ascii=False) for record in records]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, "\n".join(lines) + "\n")
