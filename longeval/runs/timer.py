"""Seconds per phase of a run, so harness time can be told from engine time (run.json `timing`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, since: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - since


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
