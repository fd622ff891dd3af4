"""The defaults of the paired statistics (stats.py), in a module without numpy: `compare` shows them in its --help,
and building the command line parser must not import numpy (every `longeval` command paid about 0.1 s for it)."""

from __future__ import annotations

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
DEFAULT_ALPHA = 0.05
