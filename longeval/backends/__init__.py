"""Inference engines behind one protocol (base.Backend); `make_backend` imports the chosen one lazily."""

from __future__ import annotations

from typing import Any

from longeval.backends.build import BACKENDS, backend_available, build_backend
from longeval.errors import UserError


def default_backend() -> str:
    """vLLM when installed (it is much faster), otherwise transformers."""
    return "vllm" if backend_available("vllm") else "hf"


def make_backend(name: str, data_parallel_size: int | None = None, **kwargs: Any):
    """Build backend `name` (as `data_parallel_size` Ray actors when above 1).

    A user's engine option (backends/options.py) the backend does not take is refused; the runner's own keyword
    arguments a backend has no use for (batch_size for vllm, ...) are dropped.
    """
    from longeval.backends.options import BY_KEY, check_backend_takes

    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    check_backend_takes(name, {"data_parallel_size": data_parallel_size,
                               **{key: value for key, value in kwargs.items() if key in BY_KEY}})
    if data_parallel_size is not None and data_parallel_size != 1:
        from longeval.backends.parallel import DataParallelBackend

        return DataParallelBackend(name, data_parallel_size, **kwargs)
    return build_backend(name, **kwargs)


__all__ = ["BACKENDS", "backend_available", "build_backend", "default_backend", "make_backend"]
