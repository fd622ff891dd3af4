"""Engine options a user can set on `longeval run`, which backend takes each, and typed `--engine-arg` parsing.

An option given to a backend that does not take it is refused with a line (never dropped silently: a user who
asks for 4 GPUs per model and silently gets one reads the wrong speed, or the wrong OOM). `--engine-arg KEY=VALUE`
reaches vLLM's `EngineArgs`: KEY must be one of its fields, VALUE is converted to that field's declared type.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from longeval.backends.build import BACKENDS, backend_class
from longeval.errors import UserError


@dataclass(frozen=True)
class EngineOption:
    """One user-settable engine option: its flag and the backends that take it."""

    flag: str
    keyword: str = ""  # the backend's keyword argument, when not the flag's own name

    @property
    def key(self) -> str:
        return self.keyword or self.flag.removeprefix("--").replace("-", "_")

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends that take it, as their classes declare (`accepted_options`)."""
        return tuple(name for name in BACKENDS if self.key in backend_class(name).accepted_options)


OPTIONS: tuple[EngineOption, ...] = (
    EngineOption("--tensor-parallel-size"),
    EngineOption("--pipeline-parallel-size"),
    EngineOption("--distributed-executor-backend"),
    EngineOption("--gpu-memory-utilization"),
    EngineOption("--max-num-seqs"),
    EngineOption("--enable-prefix-caching"),
    EngineOption("--engine-arg", keyword="engine_args"),
    # Sampling instead of greedy decoding (LongBench v2's official setting: temperature 0.1); seeded per request.
    EngineOption("--temperature"),
    EngineOption("--seed"),
    # longeval's own data parallelism (Ray actors, one engine each): any local engine.
    EngineOption("--data-parallel-size"),
    # A served model (backends/served.py); the server address is not part of the run's identity.
    EngineOption("--base-url"),
    EngineOption("--api-key-env"),
    EngineOption("--concurrency"),
    EngineOption("--retries"),
)
BY_KEY = {option.key: option for option in OPTIONS}

# EngineArgs fields longeval sets itself from a run's settings: --engine-arg may not override them.
RESERVED_ENGINE_ARGS = {
    "model": "--model", "tokenizer": "--model", "dtype": "--dtype", "max_model_len": "--max-length (the engine "
    "length follows the run and the method's RoPE table)", "hf_overrides": "--method", "seed": "--seed",
    "data_parallel_size": "--data-parallel-size", "skip_tokenizer_init": "(the runner decodes outputs itself)",
}
# Every option is recorded in run.json. The dedicated flags above only place or schedule work (which GPUs, how
# many sequences at once), so they stay out of the settings fingerprint: a run may be resumed on another machine
# shape. An --engine-arg enters the fingerprint (quantization, kv_cache_dtype... change predictions) unless it is
# one of these fields, which only schedule work or size memory.
SCHEDULING_ENGINE_ARGS = frozenset({
    "max_num_batched_tokens", "enable_chunked_prefill", "block_size", "swap_space", "cpu_offload_gb",
    "enforce_eager", "max_parallel_loading_workers", "disable_log_stats", "kv_cache_memory_bytes",
    "num_gpu_blocks_override", "max_num_partial_prefills", "long_prefill_token_threshold", "scheduling_policy",
    "disable_custom_all_reduce", "distributed_timeout_seconds", "use_tqdm_on_load",
})


def check_backend_takes(backend: str, options: Mapping[str, Any]) -> None:
    """Refuse options the chosen backend does not take (a set option is one whose value is not None)."""
    for key, value in options.items():
        option = BY_KEY.get(key)
        unset = value is None or (isinstance(value, dict | list) and not value)
        if option is None or unset or key in backend_class(backend).accepted_options:
            continue
        takers = " or ".join(f"--backend {name}" for name in option.backends)
        raise UserError(f"{option.flag} is an option of {takers}; --backend {backend} does not take it "
                        "(leave it out)")


def fingerprinted(options: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a run's engine options that can change its predictions (enters the settings fingerprint):
    --engine-arg fields that do not only schedule work, and sampling (--temperature, --seed)."""
    engine_args = {key: value for key, value in (options.get("engine_args") or {}).items()
                   if key not in SCHEDULING_ENGINE_ARGS}
    sampling = {key: options[key] for key in ("temperature", "seed") if options.get(key) is not None}
    return {**sampling, **({"engine_args": engine_args} if engine_args else {})}


# ------------------------------------------------------------------------------------------ --engine-arg KEY=VALUE

def engine_arg_fields() -> dict[str, Any]:
    """vLLM's EngineArgs field name -> declared type (imports vLLM)."""
    from vllm.engine.arg_utils import EngineArgs

    return {f.name: f.type for f in dataclasses.fields(EngineArgs) if not f.name.startswith("_")}


def parse_engine_args(items: Iterable[str], fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """['max_num_batched_tokens=4096', ...] -> {'max_num_batched_tokens': 4096}; UserError naming the bad item."""
    parsed: dict[str, Any] = {}
    items = list(items)
    if not items:
        return parsed
    fields = fields if fields is not None else engine_arg_fields()
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key:
            raise UserError(f"--engine-arg takes KEY=VALUE, got '{item}'")
        if key in RESERVED_ENGINE_ARGS:
            raise UserError(f"--engine-arg {key}: longeval sets this engine argument itself; use "
                            f"{RESERVED_ENGINE_ARGS[key]}")
        if key in BY_KEY:
            raise UserError(f"--engine-arg {key}: use {BY_KEY[key].flag}")
        if key not in fields:
            raise UserError(f"--engine-arg {key}: not an argument of vLLM's EngineArgs "
                            f"(close names: {', '.join(_close(key, fields)) or 'none'})")
        if key in parsed:
            raise UserError(f"--engine-arg {key} is given twice")
        try:
            parsed[key] = convert(text.strip(), fields[key])
        except ValueError as exc:
            raise UserError(f"--engine-arg {key}={text}: {exc}") from None
    return parsed


def _close(key: str, fields: Iterable[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(key, list(fields), n=3, cutoff=0.6)


_TRUE, _FALSE, _NONE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}, {"none", "null"}


def convert(text: str, annotation: Any) -> Any:
    """VALUE as the type a field declares: bool, int, float, str, a Literal choice, None, or JSON for the rest."""
    if isinstance(annotation, str):  # an annotation vLLM left unresolved: JSON if it parses, else the text
        return _json_or_text(text)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        members = typing.get_args(annotation)
        if type(None) in members and text.lower() in _NONE:
            return None
        # Narrow types first, so '8' is an int where int is allowed and 'auto' is only ever a string.
        for member in sorted((m for m in members if m is not type(None)), key=_narrowness):
            try:
                return convert(text, member)
            except ValueError:
                continue
        raise ValueError(f"expected {_describe(annotation)}")
    if origin is typing.Literal:
        for choice in typing.get_args(annotation):
            if str(choice) == text:
                return choice
        raise ValueError(f"expected one of {', '.join(str(c) for c in typing.get_args(annotation))}")
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected an integer") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if annotation is str:
        return text
    if annotation is type(None):
        if text.lower() in _NONE:
            return None
        raise ValueError("expected none")
    # dict[...], list[...], set[...] and vLLM's config classes (which take a dict): JSON.
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"expected JSON for {_describe(annotation)}") from None
    container = origin or annotation
    if container in (list, set, tuple) and not isinstance(value, list):
        raise ValueError("expected a JSON list")
    if container is dict and not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    if container not in (list, set, tuple, dict) and not isinstance(value, dict | list):
        raise ValueError(f"expected a JSON object for {_describe(annotation)}")
    return set(value) if container is set else value


def _narrowness(annotation: Any) -> int:
    order = {bool: 0, int: 1, float: 2, str: 9}
    if typing.get_origin(annotation) is typing.Literal:
        return 0
    return order.get(annotation, 5)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _describe(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
