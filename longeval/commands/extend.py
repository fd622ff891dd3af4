"""`longeval extend`: write a derived checkpoint whose config carries a context-extension method."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from longeval.backends.base import WEIGHT_SUFFIXES
from longeval.errors import UserError

HELP = "write a derived checkpoint (config carrying the method and new max length; weights hard-linked)"
DESCRIPTION = HELP + """

The new config.json has the method's RoPE settings (standard rope types transformers and vLLM both read),
max_position_embeddings, and longeval_method (provenance); EABF adds longeval_query_scale and the EABF
architecture name (vLLM needs longeval's plugin for it). Tokenizer files are copied, weights hard-linked when
the file system allows, else copied. `longeval run --model DIR` then uses the method without --method.
The checkpoint is built in a hidden staging folder and renamed into place, so an interrupted extend leaves nothing.

examples:
  longeval extend ./llama-2-7b-chat --method yarn:factor=4 --out ./llama-2-7b-chat-yarn16k
  longeval extend ./llama-2-7b-chat --method eabf --max-length 16384 --out ./llama-2-7b-chat-eabf16k
"""

SKIPPED_FILES = {"config.json", "longeval_tiny_model.json"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="checkpoint folder (config.json, weights, tokenizer), or a .gguf file "
                        "(converted once into the longeval cache)")
    parser.add_argument("--method", required=True, help="method spec NAME[:key=value,...] (see `longeval methods`)")
    parser.add_argument("--out", required=True, help="new checkpoint folder (must not exist or be empty)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="positions the extended model serves (default: what the method covers; required "
                             "for methods valid at any length: abf, eabf, dynamic-ntk)")


def extended_config(base_config: dict, method, max_length: int, base_name: str) -> dict:
    """base_config with the method applied: legacy RoPE keys removed, overrides set, unset keys dropped."""
    config = {k: v for k, v in base_config.items() if k not in ("rope_scaling", "rope_theta")}
    for key, value in method.config_overrides(base_config, max_length).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    config["longeval_method"]["extended_from"] = base_name
    return config


def _link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link source to target; copy when linking is impossible. True when linked."""
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copyfile(source, target)  # the mode a plain open() gives (0644 under umask 022), not the source's
        return False


def _raise_tokenizer_limit(path: Path, positions: int) -> None:
    """vLLM caps the context at the tokenizer's model_max_length: lift it to the extended length."""
    data = json.loads(path.read_text(encoding="utf-8"))
    limit = data.get("model_max_length")
    if isinstance(limit, int | float) and limit < positions:
        data["model_max_length"] = positions
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_checkpoint(base: Path, out: Path, config: dict, max_length: int) -> tuple[int, int]:
    """Tokenizer and other files copied, weights hard-linked (else copied), the extended config written.

    Returns (weights hard-linked, weights copied).
    """
    from longeval.io import write_json_atomic

    linked = copied = 0
    for source in sorted(base.iterdir()):
        if not source.is_file() or source.name in SKIPPED_FILES:
            continue
        target = out / source.name
        if source.name.endswith(WEIGHT_SUFFIXES):
            if _link_or_copy(source, target):
                linked += 1
            else:
                copied += 1
        else:
            shutil.copyfile(source, target)
            if source.name == "tokenizer_config.json":
                _raise_tokenizer_limit(target, max(max_length, config["max_position_embeddings"]))
    write_json_atomic(out / "config.json", config, indent=2)
    return linked, copied


def run(args: argparse.Namespace) -> int:
    from longeval.checkpoint import resolve_checkpoint
    from longeval.io import current_umask
    from longeval.methods import UNBOUNDED, parse_method
    from longeval.methods.config import read_config

    checkpoint, out = resolve_checkpoint(args.base, echo=print), Path(args.out)
    base, gguf_source = checkpoint.folder, checkpoint.gguf
    base_config = read_config(base)
    method = parse_method(args.method)
    covered = method.covered_length(base_config)
    max_length = args.max_length
    if max_length is None:
        if covered == UNBOUNDED:
            raise UserError(f"method {method.spec} works at any length: give --max-length")
        max_length = covered
    if max_length < 1:
        raise UserError(f"--max-length must be positive, got {max_length}")
    if max_length > covered:
        raise UserError(f"--max-length {max_length} exceeds what method {method.spec} covers on this checkpoint "
                        f"({covered} positions); raise the factor or lower the max length")
    if out.resolve() == base.resolve():
        raise UserError("--out must differ from the base checkpoint", path=out)
    if out.exists() and not out.is_dir():
        raise UserError("--out must be a folder, and this is a file", path=out)
    if out.exists() and any(out.iterdir()):
        raise UserError("output folder exists and is not empty", path=out)
    base_name = Path(gguf_source.file).name if gguf_source else base.resolve().name
    config = extended_config(base_config, method, max_length, base_name)
    from longeval.backends.base import require_weights

    require_weights(base)  # as `run` refuses it: a checkpoint without (whole) weights is no checkpoint

    # Built in a hidden staging folder next to --out and renamed into place at the end, so an interrupted extend
    # leaves no half-written checkpoint behind (and a re-run is not refused as "not empty").
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    except OSError as exc:
        raise UserError(f"cannot write here ({exc.strerror or exc})", path=out) from None
    staging.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; the checkpoint gets the usual permissions
    try:
        linked, copied = _write_checkpoint(base, staging, config, max_length)
        if out.exists():
            out.rmdir()  # checked empty above
        staging.rename(out)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk, a file that cannot be read or copied
            raise UserError(f"cannot write the checkpoint ({exc.strerror or exc})", path=out) from None
        raise
    print(f"wrote {out}: method {method.spec}, max_position_embeddings {config['max_position_embeddings']}, "
          f"serves {max_length} positions; weights: {linked} hard-linked, {copied} copied")
    return 0
