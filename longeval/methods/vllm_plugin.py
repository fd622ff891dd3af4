"""vLLM general plugin: makes longeval's model wrappers known to every vLLM process.

vLLM runs the `vllm.general_plugins` entry points (declared in pyproject.toml) in the front-end, the engine-core
process and every worker. Registering from the caller's process alone is not seen by those processes, which is
why the wrappers go through this entry point. Importing this module is cheap: each wrapper is named as a lazy
"module:Class" string and only built by the process that builds the model (methods/vllm_models.py).
"""

from __future__ import annotations

from longeval.methods.families import FAMILIES, LEGACY_EABF_ARCHITECTURE, engine_architecture

# The architecture selected for EABF on Llama (kept for callers; every family has its own, engine_architecture).
EABF_ARCHITECTURE = engine_architecture("LlamaForCausalLM")
WRAPPER_MODULE = "longeval.methods.vllm_models"
# The entry-point name; VLLM_PLUGINS (a comma list), when set, must include it.
PLUGIN_NAME = "longeval"

_registered = False


def wrapped_architectures() -> dict[str, str]:
    """Architecture name given to vLLM -> lazy class path, for every family (and the legacy EABF Llama name)."""
    names = {engine_architecture(f.architecture): engine_architecture(f.architecture) for f in FAMILIES.values()}
    names[LEGACY_EABF_ARCHITECTURE] = engine_architecture("LlamaForCausalLM")
    return {arch: f"{WRAPPER_MODULE}:{cls}" for arch, cls in names.items()}


def register() -> None:
    """Register the wrappers with vLLM's model registry. Safe to call any number of times."""
    global _registered
    if _registered:
        return
    from vllm import ModelRegistry

    supported = ModelRegistry.get_supported_archs()
    for architecture, path in wrapped_architectures().items():
        if architecture not in supported:
            ModelRegistry.register_model(architecture, path)
    _registered = True
