"""The weight-digest cache speeds identity up but never decides it: a file rewritten with its size and mtime put
back (anyone can `touch -d`) is hashed again, because the inode and ctime, which no user can set, are part of the
entry; and a restored original is not refused from a stale entry."""

from __future__ import annotations

import hashlib
import json
import os
import time

from longeval.runs import identity


def _rewrite_keeping_mtime(path, data: bytes) -> None:
    stat = path.stat()
    time.sleep(0.05)  # past the file system's timestamp tick, as any real rewrite is (not a timing assertion)
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_same_size_rewrite_with_its_mtime_restored_is_hashed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGEVAL_CACHE_DIR", str(tmp_path / "cache"))
    real_time_ns = time.time_ns
    # The checkpoint was written long before this run hashes it (a fresh file's entry is not kept: see the next test)
    monkeypatch.setattr(identity.time, "time_ns", lambda: real_time_ns() + 60 * 10**9)
    reads = []
    real_digest = hashlib.file_digest
    monkeypatch.setattr(identity.hashlib, "file_digest",
                        lambda handle, name: reads.append(1) or real_digest(handle, name))
    model = tmp_path / "m"
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"a" * 1000)
    first = identity.weights_fingerprint(model)
    assert identity.weights_fingerprint(model) == first and len(reads) == 1  # unchanged: from the cache
    _rewrite_keeping_mtime(weights, b"b" * 1000)
    other = identity.weights_fingerprint(model)
    assert other != first and len(reads) == 2
    _rewrite_keeping_mtime(weights, b"a" * 1000)  # the original back: its own digest, not the stale entry's
    assert identity.weights_fingerprint(model) == first and len(reads) == 3
    # Replaced by another file (a new inode) of the same size and mtime: hashed again too.
    stat = weights.stat()
    replacement = model / "new"
    replacement.write_bytes(b"c" * 1000)
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, weights)
    assert identity.weights_fingerprint(model) not in (first, other) and len(reads) == 4
    assert identity.weights_fingerprint(tmp_path / "cache") == ""  # no weight files at all


def test_a_file_changed_within_the_timestamp_tick_of_its_hashing_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGEVAL_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"a" * 1000)
    identity.weights_fingerprint(model)
    cache = tmp_path / "cache" / identity.CACHE_FILE
    assert not cache.exists() or str((model / "model.safetensors").resolve()) not in json.loads(cache.read_text())
