"""longeval's one cache root: converted GGUF checkpoints, the tiny model, weight digests."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LONGEVAL_CACHE"


def cache_root() -> Path:
    """$LONGEVAL_CACHE, else $XDG_CACHE_HOME/longeval, else ~/.cache/longeval (`demo --cache` sets the first)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "longeval"
