"""Where the engines' own log lines go: stderr always (stdout is longeval's results), and nothing below WARNING
under --no-progress, so a CI log shows longeval's lines rather than an engine's start-up chatter.

vLLM sends its INFO lines to stdout unless told otherwise, and reads that setting when it is first imported (its
worker processes read it from the environment); transformers logs through Python logging to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

QUIET_LEVEL = "WARNING"


def route_engine_logs(quiet: bool) -> None:
    """Point vLLM's logging at stderr and, when quiet, raise vLLM's and transformers' level to WARNING.

    A value the user set in the environment wins. Call before the engine starts; loggers already set up by an
    earlier import in this process are adjusted in place.
    """
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    if quiet:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", QUIET_LEVEL)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", QUIET_LEVEL.lower())
        # torch's C++ warnings ("NUMA binding: Using MEMBIND policy ..." at every vLLM CPU engine start) and the
        # deprecation warnings vLLM's imports trigger in torch say nothing about the run.
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"vllm\.")
    if "vllm" in sys.modules:  # configured already: move its handlers, set its level
        _adjust(logging.getLogger("vllm"), quiet)
    if "transformers" in sys.modules and quiet:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_warning()


def _adjust(logger: logging.Logger, quiet: bool) -> None:
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__) \
                and os.environ.get("VLLM_LOGGING_STREAM") == "ext://sys.stderr":
            handler.setStream(sys.stderr)
        if quiet and os.environ.get("VLLM_LOGGING_LEVEL") == QUIET_LEVEL:
            handler.setLevel(QUIET_LEVEL)
    if quiet and os.environ.get("VLLM_LOGGING_LEVEL") == QUIET_LEVEL:
        logger.setLevel(QUIET_LEVEL)
