"""longeval: LongBench evaluation for context-extended LLMs, official-exact and fast."""

__version__ = "0.1.0"
