"""A fake engine for runner tests and dry runs: no model weights are loaded, no torch is needed.

Each prompt's "generation" is the last `max_new_tokens` of its own token ids (at most ECHO_TOKENS), decoded with the
checkpoint's tokenizer: deterministic, different per prompt, so resume and sweep tests can compare outputs. Set
LONGEVAL_ECHO_DELAY (seconds per engine call) to keep a run in flight long enough to kill it or race it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from longeval.backends.base import Generation, GenerationParams, canonical_dtype
from longeval.errors import UserError

ECHO_TOKENS = 8
DELAY_ENV = "LONGEVAL_ECHO_DELAY"


class EchoBackend:
    name = "echo"
    local_engine = False  # no weights, no device: a fake engine for dry runs and tests
    accepted_options = frozenset({"data_parallel_size"})

    def __init__(self, model_path: str | Path, method: Any = None, max_length: int | None = None,
                 dtype: str = "auto", delay: float | None = None) -> None:
        from longeval.prompts import load_tokenizer

        self.dtype = canonical_dtype(dtype)
        self.max_length = max_length
        self.method = method
        self._tokenizer = load_tokenizer(str(model_path))
        raw = os.environ.get(DELAY_ENV, "0") if delay is None else delay
        try:
            self.delay = float(raw)
        except ValueError:
            raise UserError(f"{DELAY_ENV} must be a number of seconds, got {raw!r}") from None
        self.calls = 0

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        outputs = []
        for prompt in prompts:
            count = max(params.min_new_tokens, min(params.max_new_tokens, ECHO_TOKENS))
            ids = list(prompt[-count:]) if count else []
            outputs.append(Generation(token_ids=ids, text=self._tokenizer.decode(ids, skip_special_tokens=True)))
        return outputs

    def versions(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass
