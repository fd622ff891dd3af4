"""Engines kept across the runs of one command: a length sweep of one method starts its engine once.

Two runs can share an engine when everything the engine is built from is the same (backend, checkpoint, the
method with its run-length-bound parameters, dtype, engine options); only the positions it must hold differ, so
the shared engine is built for the longest run of the sweep. A method whose RoPE depends on the run length
(dynamic-ntk: its base is fixed at each length) has a different bound spec per length and gets its own engine.
Extra positions change no output: a RoPE table holds the same values at each position whatever its size.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from longeval.backends.base import canonical_dtype
from longeval.runs.inputs import RunInputs
from longeval.runs.plan import RunPlan, RunRequest
from longeval.runs.timer import Timer


def engine_key(request: RunRequest, inputs: RunInputs, plan: RunPlan) -> str:
    """What an engine is built from, but for its length."""
    return json.dumps([request.backend, str(inputs.model_dir.resolve()), plan.method.spec,
                       canonical_dtype(request.dtype), request.batch_size, request.backend_options],
                      sort_keys=True, default=str)


@dataclass
class Engines:
    """Builds engines on first use, hands a live one to every run with the same key, closes them at the end."""

    lengths: dict[str, int] = field(default_factory=dict)  # key -> the longest sequence any run of it needs
    live: dict[str, Any] = field(default_factory=dict)

    def reserve(self, key: str, length: int) -> None:
        """Announce a run before any engine starts, so a shared engine is built long enough for all of them."""
        self.lengths[key] = max(self.lengths.get(key, 0), length)

    def get(self, key: str, request: RunRequest, inputs: RunInputs, plan: RunPlan, timer: Timer) -> tuple[Any, bool]:
        """(engine, whether an earlier run already used it); one engine lives at a time (memory)."""
        if key in self.live:
            return self.live[key], True
        self.close()
        from longeval.backends import make_backend
        from longeval.backends.build import backend_class

        if not request.progress and backend_class(request.backend).local_engine:  # transformers' loading bars too
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        if request.progress:  # the phase between the run's banner and its first bar (a vLLM start: seconds to a minute)
            print(f"starting the {request.backend} engine ({plan.method.spec}, "
                  f"{max(self.lengths.get(key, 0), plan.engine_length):,} positions) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        backend = make_backend(request.backend, model_path=str(inputs.model_dir), method=plan.method,
                               max_length=max(self.lengths.get(key, 0), plan.engine_length), dtype=request.dtype,
                               batch_size=request.batch_size, progress=request.progress,
                               **request.backend_options)
        timer.add("engine_load", started)
        self.live[key] = backend
        return backend, False

    def close(self) -> None:
        while self.live:
            _, backend = self.live.popitem()
            backend.close()
