"""File helpers shared by every stage: JSON lines with located errors, atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from longeval.errors import UserError


def parse_jsonl(lines: Iterable[str], display: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number, object) for each non-blank line; a bad line is a UserError naming it."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=display, line=number) from None
        if not isinstance(obj, dict):
            raise UserError("expected a JSON object", path=display, line=number)
        yield number, obj


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """parse_jsonl over a file; a missing or non-UTF-8 file is a UserError naming it."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            yield from parse_jsonl(handle, path)
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None


def write_atomic(path: str | Path, text: str) -> None:
    """Write text to path so that readers see either the old file or the whole new one, never a part."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """write_atomic for bytes. A path that cannot be written (a folder in the way, a file where a folder should
    be, no permission, a full disk) is a UserError naming it, not a traceback."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"cannot write here ({exc.strerror or exc})", path=path) from None
    try:
        # mkstemp makes the file 0600; a result others publish from must get the mode open() would give it.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write here ({exc.strerror or exc})", path=path) from None
        raise


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def usual_modes(folder: str | Path) -> None:
    """Give a freshly written tree the modes a plain open()/mkdir() give (0644/0755 under umask 022).

    For folders built in a mkdtemp staging folder (0700) by libraries that write private files (safetensors'
    save_file leaves model.safetensors 0600): a cached or extended checkpoint is read by others."""
    mask = current_umask()
    root = Path(folder)
    root.chmod(0o777 & ~mask)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def write_json_atomic(path: str | Path, obj: Any, **dump_kwargs: Any) -> None:
    """json.dump(obj) to path atomically (ensure_ascii=False, like the official scripts)."""
    dump_kwargs.setdefault("ensure_ascii", False)
    write_atomic(path, json.dumps(obj, **dump_kwargs))
