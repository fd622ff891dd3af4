"""Data parallelism: N engines as Ray actors behind the Backend protocol; each batch is split over them.

vLLM's offline `LLM` class refuses `data_parallel_size > 1` (its data parallelism needs one process per rank
started by an outside launcher, or `vllm serve`), so longeval runs N ordinary engines, one per Ray actor, each with
the GPUs of one tensor/pipeline-parallel model. Greedy decoding is per prompt, so the split does not change a
prediction; the runner still writes each batch durably once all engines have answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from longeval.backends.base import Generation, GenerationParams
from longeval.errors import UserError


class EngineActor:
    """One engine in a Ray actor; errors come back as values so a bad setting reads as one line on the driver."""

    def __init__(self, name: str, kwargs: dict[str, Any]) -> None:
        from longeval.backends.build import build_backend

        self.error: str | None = None
        self.backend = None
        try:
            self.backend = build_backend(name, **kwargs)
        except UserError as exc:
            self.error = str(exc)

    def start_error(self) -> str | None:
        return self.error

    def info(self) -> tuple[dict[str, str], str]:
        assert self.backend is not None
        return self.backend.versions(), str(getattr(self.backend, "dtype", ""))

    def generate(self, prompts: list[list[int]], params: GenerationParams) -> list[Generation]:
        assert self.backend is not None
        return self.backend.generate(prompts, params)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


class DataParallelBackend:
    """`size` engines of backend `name`, each built with `kwargs`; generate() deals prompts out round-robin."""

    def __init__(self, name: str, size: int, **kwargs: Any) -> None:
        from longeval.raycluster import connected, gpus_per_engine, runtime_env

        if size < 1:
            raise UserError(f"--data-parallel-size must be at least 1, got {size}")
        self.name = name
        self._stack = ExitStack()
        ray = self._stack.enter_context(connected(None))
        self._ray = ray
        gpus = gpus_per_engine(ray, kwargs)
        actor_class = ray.remote(EngineActor)
        self._actors = [actor_class.options(num_gpus=gpus, runtime_env=runtime_env()).remote(name, kwargs)
                        for _ in range(size)]
        try:
            errors = [e for e in ray.get([a.start_error.remote() for a in self._actors]) if e]
            if errors:
                raise UserError(errors[0])
            self._versions, self.dtype = ray.get(self._actors[0].info.remote())
        except BaseException:
            self.close()
            raise

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        """Prompt i goes to engine i mod N (prompts come sorted by length, so each engine gets similar work)."""
        shards = [[list(p) for p in prompts[k::len(self._actors)]] for k in range(len(self._actors))]
        pending = [actor.generate.remote(shard, params) for actor, shard in zip(self._actors, shards, strict=True)
                   if shard]
        try:
            answers = self._ray.get(pending)
        except self._ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, UserError):
                raise UserError(str(exc.cause)) from None
            raise
        out: list[Generation] = [None] * len(prompts)  # type: ignore[list-item]
        for k, answer in enumerate(answers):
            out[k::len(self._actors)] = answer
        return out

    def versions(self) -> dict[str, str]:
        return dict(self._versions)

    def close(self) -> None:
        actors, self._actors = getattr(self, "_actors", []), []
        try:
            if actors:
                self._ray.get([actor.close.remote() for actor in actors])
                for actor in actors:
                    self._ray.kill(actor)
        finally:
            self._stack.close()
