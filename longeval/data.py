"""LongBench v1 records from a local folder, the official data.zip, or the Hugging Face hub, schema-checked.

The layout is the official `data.zip`: `data/<task>.jsonl` (LongBench-E: `data/<task>_e.jsonl`). A folder may be
the unpacked zip (holding `data/`) or the `data/` folder itself. Every file a run reads is hashed, so run.json can
say exactly which data produced a score (peers' users lost points to silently different copies of the data).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.errors import UserError
from longeval.io import parse_jsonl
from longeval.tasks import Task

HUB_REPO = "THUDM/LongBench"
HUB_FILE = "data.zip"
# Words accepted by --data for "download the official data.zip from the hub".
HUB_NAMES = ("hub", "hf", HUB_REPO, "zai-org/LongBench")

# field -> (accepted types, description for the error message)
_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "context": ((str,), "a string"),
    "input": ((str,), "a string"),
    "answers": ((list,), "a list of strings"),
    "length": ((int,), "an integer"),
    "all_classes": ((list, type(None)), "a list of strings or null"),
    "_id": ((str,), "a string"),
}


@dataclass
class DataSource:
    """Where records come from. `describe` is what run.json records; `file_sha256` grows as files are read."""

    kind: str  # "dir", "zip" or "hub"
    location: Path  # the folder or zip file
    describe: str
    file_sha256: dict[str, str] = field(default_factory=dict)

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

    def load(self, task: Task, limit: int | None = None) -> list[dict[str, Any]]:
        """The task's records in file order (first `limit` only, if given), each checked against the schema."""
        display, raw = self.read_bytes(task.file_stem)
        self.file_sha256[f"{task.file_stem}.jsonl"] = hashlib.sha256(raw).hexdigest()
        return parse_records(raw, display, limit=limit)

    def checksum(self) -> str:
        """One sha256 over the files read so far (name and content hash of each, sorted by name)."""
        summary = "".join(f"{name}\t{digest}\n" for name, digest in sorted(self.file_sha256.items()))
        return hashlib.sha256(summary.encode()).hexdigest()


def parse_records(raw: bytes, display: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Decode JSON lines and check each record; errors name the file, line and field."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=display) from None
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    if limit is not None and limit <= 0:
        return records
    # split("\n"), not splitlines(): U+2028 and friends may stand unescaped inside JSON strings
    for number, record in parse_jsonl(text.split("\n"), display):
        check_record(record, display, number)
        if record["_id"] in seen:
            raise UserError(f"duplicate _id (also on line {seen[record['_id']]})", path=display, line=number,
                            field="_id")
        seen[record["_id"]] = number
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    return records


def check_record(record: dict[str, Any], display: str, number: int) -> None:
    """Raise a located UserError unless `record` has every field the prompts, metrics and resume rely on."""
    for name, (types, description) in _SCHEMA.items():
        if name not in record:
            raise UserError("missing field", path=display, line=number, field=name)
        value = record[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise UserError(f"must be {description}, got {type(value).__name__}", path=display, line=number,
                            field=name)
    for name in ("answers", "all_classes"):
        values = record[name] or []
        if not all(isinstance(item, str) for item in values):
            raise UserError("must hold only strings", path=display, line=number, field=name)
    if not record["answers"]:
        raise UserError("must hold at least one answer", path=display, line=number, field="answers")


def open_source(spec: str | Path) -> DataSource:
    """Resolve --data: a folder, a zip file, or 'hub' (the official data.zip, downloaded into the user's cache)."""
    text = str(spec)
    if text in HUB_NAMES:
        zip_path = download_hub_zip()
        # The cache path is .../snapshots/<commit>/data.zip: record the commit the data came from.
        revision = zip_path.parent.name if zip_path.parent.parent.name == "snapshots" else "unknown"
        return DataSource("hub", zip_path, describe=f"hf://datasets/{HUB_REPO}@{revision}/{HUB_FILE}")
    path = Path(text).expanduser()
    if path.is_dir():
        return DataSource("dir", path, describe=str(path.resolve()))
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise UserError("--data must be a folder, a LongBench data.zip or 'hub'; this file is not a zip",
                            path=path)
        return DataSource("zip", path, describe=str(path.resolve()))
    raise UserError("no such folder or zip file (use 'hub' to download the official data)", path=path)


def download_hub_zip() -> Path:
    """Fetch (or reuse from the Hugging Face cache) the official data.zip; offline is a one-line UserError."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=HUB_REPO, filename=HUB_FILE, repo_type="dataset"))
    except Exception as exc:  # noqa: BLE001 - any hub failure (offline, DNS, HTTP, auth) is the same advice
        reason = type(exc).__name__
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            reason = "HF_HUB_OFFLINE is set and it is not in the cache"
        raise UserError(f"cannot download {HUB_FILE} of dataset {HUB_REPO} from the Hugging Face hub ({reason}); "
                        f"download it elsewhere and pass --data PATH/TO/{HUB_FILE} or its unpacked folder") from None
