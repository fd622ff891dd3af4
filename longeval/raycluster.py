"""The Ray connection behind `--ray` and `--data-parallel-size`: join a cluster, or start a local instance.

longeval schedules nothing itself: a grid cell is a Ray task and a data-parallel engine a Ray actor, each asking
Ray for the GPUs its engine needs. Cells write their run folders themselves, so every node must see `--out`, the
model and the data at the same paths (a shared filesystem) and have longeval installed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from longeval.errors import UserError

# Environment the driver passes to every task and actor, so a cell on a worker runs as it would locally: the
# engines' settings (VLLM_*, HF_*, ...), and PYTHONPATH so workers import the same longeval as the driver.
FORWARDED_PREFIXES = ("VLLM_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_", "LONGEVAL_")
FORWARDED_NAMES = ("PYTHONPATH",)


def forwarded_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items()
            if key.startswith(FORWARDED_PREFIXES) or key in FORWARDED_NAMES}


def runtime_env() -> dict[str, Any]:
    return {"env_vars": forwarded_env()}


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--ray and --data-parallel-size need Ray, which is not installed "
                        "(pip install 'longeval[ray]')") from None
    return ray


@contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """Ray, connected for the duration of the block.

    Already connected (inside a Ray task, or a caller that called ray.init itself): that connection is used and
    left open. Otherwise `address` is passed to ray.init: None joins the cluster named by RAY_ADDRESS or started
    on this machine with `ray start`, else starts a local instance; 'local' always starts one; 'HOST:PORT' or
    'ray://HOST:PORT' joins that cluster. A connection made here is closed at the end of the block.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if not sys.stdout.isatty():  # Ray colours the worker-name prefix of forwarded lines; not in a log file
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    try:
        ray.init(address=address, runtime_env=runtime_env(), include_dashboard=False, log_to_driver=True,
                 logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to Ray at {address or 'the default address'}: {first}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def gpus_per_engine(ray, options: dict[str, Any]) -> float:
    """GPUs one engine needs: tensor x pipeline parallel size; 0 on a cluster without GPUs (CPU engines), and 0
    when vLLM's own Ray executor places the engine's workers (it reserves their GPUs itself)."""
    if not ray.cluster_resources().get("GPU", 0):
        return 0
    if options.get("distributed_executor_backend") == "ray":
        return 0
    return float((options.get("tensor_parallel_size") or 1) * (options.get("pipeline_parallel_size") or 1))
