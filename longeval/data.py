"""Where a task's records are read from (--data): a folder or a zip file, each file read hashed, so run.json can
say exactly which data produced a score (peers' users lost points to silently different copies of the data).

What a record is and where a family's files sit is the family's (longeval.benchmarks: `open_data`,
`load_records`); LongBench's loader, its record schema and its hub download are in benchmarks/longbench/data.py.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longeval.errors import UserError

if TYPE_CHECKING:
    from longeval.tasks import Task


RecordsDigest = Callable[[Sequence[Mapping[str, Any]]], str]


@dataclass
class DataSource:
    """Where records come from. `describe` is what run.json records; `file_sha256` grows as files are read."""

    kind: str  # "dir", "zip" or "hub"
    location: Path  # the folder or zip file
    describe: str
    file_sha256: dict[str, str] = field(default_factory=dict)
    # Generated records (name -> records, the family's digest of records), kept for `prefix_sha256`.
    generated: dict[str, tuple[list[Mapping[str, Any]], RecordsDigest]] = field(default_factory=dict)

    def add_generated(self, name: str, records: Sequence[Mapping[str, Any]], digest: RecordsDigest) -> str:
        """Generated records join the checksum as a file would (`name`: `<task>.generated`); returns the digest."""
        self.generated[name] = (list(records), digest)
        self.file_sha256[name] = digest(records)
        return self.file_sha256[name]

    def prefix_sha256(self, name: str, count: int) -> str | None:
        """The digest of the first `count` generated records of `name` (None when fewer were generated).

        A generator's first K records do not depend on how many it makes, so a run resumed with a higher --limit
        checks the records it already holds by this digest instead of refusing a checksum that covers more."""
        found = self.generated.get(name)
        if found is None or count > len(found[0]):
            return None
        records, digest = found
        return digest(records[:count])

    def _member_names(self, stem: str) -> list[str]:
        return [f"data/{stem}.jsonl", f"{stem}.jsonl"]

    def read_bytes(self, stem: str) -> tuple[str, bytes]:
        """The raw bytes of `<stem>.jsonl` and a display name for it; a missing file is a UserError."""
        candidates = self._member_names(stem)
        if self.kind == "dir":
            for name in candidates:
                path = self.location / name
                if path.is_file():
                    return str(path), path.read_bytes()
            raise UserError(f"no {stem}.jsonl in this folder (looked for {' and '.join(candidates)})",
                            path=self.location)
        try:
            with zipfile.ZipFile(self.location) as archive:
                names = set(archive.namelist())
                for name in candidates:
                    if name in names:
                        return f"{self.location}:{name}", archive.read(name)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UserError(f"not a readable zip file ({exc})", path=self.location) from None
        raise UserError(f"no {stem}.jsonl in this zip (looked for {' and '.join(candidates)})", path=self.location)

    def load(self, task: Task, limit: int | None = None, **context: Any) -> list[dict[str, Any]]:
        """The task's records from this source, as the task's family loads them (`context`: tokenizer, budget)."""
        from longeval.benchmarks import benchmark_of

        return benchmark_of(task).load_records(task, self, limit, tokenizer=context.get("tokenizer"),
                                               budget=context.get("budget"), options=context.get("options", {}))

    def checksum(self) -> str:
        """One sha256 over the files read so far (name and content hash of each, sorted by name)."""
        summary = "".join(f"{name}\t{digest}\n" for name, digest in sorted(self.file_sha256.items()))
        return hashlib.sha256(summary.encode()).hexdigest()


def open_path(spec: str | Path, what: str = "--data") -> DataSource:
    """A folder or a zip file as a source; anything else is a UserError naming the path."""
    path = Path(str(spec)).expanduser()
    if path.is_dir():
        return DataSource("dir", path, describe=str(path.resolve()))
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise UserError(f"{what} must be a folder or a zip file; this file is not a zip", path=path)
        return DataSource("zip", path, describe=str(path.resolve()))
    raise UserError("no such folder or zip file", path=path)


def hub_unreachable(endpoint: str, timeout: float = 3.0) -> str | None:
    """Why a TCP connection to the hub endpoint fails (None when it opens): one try, bounded in time.

    The lookup runs in a daemon thread because a name lookup has no timeout of its own.
    """
    import socket
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    host, port = parts.hostname or "", parts.port or (80 if parts.scheme == "http" else 443)
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return outcome[0] if outcome else f"{host}:{port}: no answer within {timeout:g} s"
