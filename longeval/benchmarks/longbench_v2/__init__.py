"""LongBench v2 (THUDM, 2024-12) with the official protocol: records, prompts, answers and results exactly as the
official pred.py and result.py make them (the facts are in each module's docstring)."""
