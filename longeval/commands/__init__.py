"""The subcommands: each parses its arguments, calls the library, prints. Argument types shared by several live here."""

from __future__ import annotations

import argparse


def significance_level(text: str) -> float:
    """An argparse type for a significance level (compare --alpha, check --significance): a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a level in (0, 1) such as 0.05, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value:g}")
    return value
