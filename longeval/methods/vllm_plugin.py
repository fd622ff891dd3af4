"""vLLM general plugin: makes longeval's model classes known to every vLLM process.

vLLM runs the `vllm.general_plugins` entry points (declared in pyproject.toml) in the front-end, the engine-core
process and every worker. Registering from the caller's process alone is not seen by those processes, which is
why EABF goes through this entry point. Importing this module is cheap: the model class is named as a lazy
"module:Class" string and only imported by the process that builds the model.
"""

from __future__ import annotations

# The architecture name selected per run with hf_overrides={"architectures": [EABF_ARCHITECTURE]}, so plain
# Llama runs keep vLLM's own class.
EABF_ARCHITECTURE = "LongevalEabfLlamaForCausalLM"
EABF_MODEL_CLASS = "longeval.methods.vllm_eabf:EabfLlamaForCausalLM"
# The entry-point name; VLLM_PLUGINS (a comma list), when set, must include it.
PLUGIN_NAME = "longeval"

_registered = False


def register() -> None:
    """Register the EABF Llama class with vLLM's model registry. Safe to call any number of times."""
    global _registered
    if _registered:
        return
    from vllm import ModelRegistry

    if EABF_ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(EABF_ARCHITECTURE, EABF_MODEL_CLASS)
    _registered = True
