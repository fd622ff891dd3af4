"""Where LongBench v2 records come from: the official data.json, a folder holding it, or the hub dataset.

`--data hub` reads data.json of the hub dataset THUDM/LongBench-v2 (split train is that one file) at a pinned
revision, through huggingface_hub's cache: offline and not cached is one line, exit 2. Records are streamed and
checked one at a time; what a run keeps of each is small (`LightRecord`): the context is read again from the file
when its prompt is built, so no more than a few contexts (millions of characters each) are in memory at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks.longbench_v2.records import ITEM_FIELDS, check_item
from longeval.benchmarks.longbench_v2.stream import iter_json_values, read_span
from longeval.errors import UserError

HUB_REPO = "THUDM/LongBench-v2"
HUB_FILE = "data.json"
# The dataset commit `--data hub` reads (`hub@REVISION` picks another). Taken from a public evaluation script that
# pins zai-org/LongBench-v2 (the same repository, renamed) with data.json's sha256 15d61c22...7fe2; the hub is
# unreachable from where this was written, so the pin could not be checked against the hub itself.
HUB_REVISION = "2b48e494f2c7a2f0af81aae178e05c7e1dde0fe9"
HUB_NAMES = ("hub", "hf", HUB_REPO, "zai-org/LongBench-v2")
# A record's own field that locates it in its file, read back by `read_item` (never written to prediction lines).
LOCATOR = "_at"


@dataclass
class V2Source:
    """One data.json: its path, what run.json says about it, and its sha256 once it has been read through."""

    path: Path
    describe: str
    revision: str | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """What run.json records about the data."""
        out: dict[str, Any] = {"data": self.describe, "data_sha256": self.sha256}
        if self.revision:
            out["hub_repo"], out["hub_revision"] = HUB_REPO, self.revision
        return out


def open_v2_source(spec: str | Path) -> V2Source:
    """Resolve --data: `hub[@REVISION]`, a data.json file (or JSON lines), or a folder holding data.json."""
    text = str(spec)
    name, _, revision = text.partition("@")
    if name in HUB_NAMES:
        revision = revision or HUB_REVISION
        path = hub_data_file(revision)
        return V2Source(path, describe=f"hf://datasets/{HUB_REPO}@{revision}/{HUB_FILE}", revision=revision)
    path = Path(text).expanduser()
    if path.is_dir():
        inner = path / HUB_FILE
        if not inner.is_file():
            raise UserError(f"no {HUB_FILE} in this folder (LongBench v2's records are one {HUB_FILE})", path=path)
        path = inner
    elif not path.is_file():
        raise UserError(f"no such file or folder (give LongBench v2's {HUB_FILE}, its folder, or 'hub')", path=path)
    return V2Source(path, describe=str(path.resolve()))


def hub_data_file(revision: str) -> Path:
    """data.json of the dataset at `revision` from the Hugging Face cache, downloaded when the hub is reachable.

    The cache is tried first without a network call; offline (HF_HUB_OFFLINE) or unreachable and not cached is a
    one-line UserError saying where to put the file instead.
    """
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError:
        raise UserError("--data hub needs huggingface_hub, which is not installed: pip install 'longeval[hf]' "
                        f"(or download {HUB_FILE} elsewhere and pass --data PATH/TO/{HUB_FILE})") from None
    from longeval.data import hub_unreachable

    try:
        return Path(hf_hub_download(repo_id=HUB_REPO, filename=HUB_FILE, repo_type="dataset", revision=revision,
                                    local_files_only=True))
    except Exception:  # noqa: BLE001, S110 - not in the cache: try the hub below
        pass
    where = (f"{HUB_FILE} of dataset {HUB_REPO}@{revision[:12]} is not in the Hugging Face cache "
             f"({constants.HF_HUB_CACHE}); download it elsewhere and pass --data PATH/TO/{HUB_FILE}")
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"HF_HUB_OFFLINE is set and {where}")
    unreachable = hub_unreachable(constants.ENDPOINT)
    if unreachable:
        raise UserError(f"the Hugging Face hub cannot be reached ({unreachable}) and {where}")
    try:
        return Path(hf_hub_download(repo_id=HUB_REPO, filename=HUB_FILE, repo_type="dataset", revision=revision))
    except Exception as exc:  # noqa: BLE001 - DNS, HTTP, auth, unknown revision: the same advice
        raise UserError(f"cannot download {HUB_FILE} of dataset {HUB_REPO}@{revision[:12]} from the Hugging Face "
                        f"hub ({type(exc).__name__}); download it elsewhere and pass --data PATH/TO/{HUB_FILE}") \
            from None


def iter_items(source: V2Source, *, need_retrieved: bool = False,
               limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(record number, checked record) in file order, each with its locator; duplicate _ids are errors. With
    `limit`, the first `limit` records only.

    Running to the end sets `source.sha256` to the whole file's (the bytes are hashed as they are parsed; with a
    limit the rest is hashed without parsing), so a limited run records the same data identity.
    """
    display = str(source.path)
    digest = hashlib.sha256()
    seen: dict[str, int] = {}
    hashed = 0
    with source.path.open("rb") as raw:
        if limit is None or limit > 0:
            for number, located in enumerate(iter_json_values(source.path, display), start=1):
                item = check_item(located.value, display, located.line, number, need_retrieved=need_retrieved)
                if item["_id"] in seen:
                    raise UserError(f"record {number}: duplicate _id (also record {seen[item['_id']]})",
                                    path=display, line=located.line, field="_id")
                seen[item["_id"]] = number
                hashed = _hash_up_to(raw, digest, hashed, located.end)
                item[LOCATOR] = [str(source.path), located.start, located.end]
                yield number, item
                if limit is not None and number >= limit:
                    break
        _hash_up_to(raw, digest, hashed, None)
    source.sha256 = digest.hexdigest()


def _hash_up_to(raw: Any, digest: Any, done: int, end: int | None) -> int:
    """Feed the file's bytes [done, end) to the digest (to the end of file when end is None)."""
    while end is None or done < end:
        block = raw.read(min(1 << 20, end - done) if end is not None else 1 << 20)
        if not block:
            break
        digest.update(block)
        done += len(block)
    return done


def light_record(item: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a run holds of a record: every field but the long ones (context, retrieved_context, unless kept)."""
    return {k: v for k, v in item.items() if k not in ("context", "retrieved_context") or k in keep}


def read_item(record: dict[str, Any]) -> dict[str, Any]:
    """The whole record again (with its context) from the file its locator names; a record that holds its
    context already (built in memory, e.g. by a test) is returned as is."""
    if "context" in record or LOCATOR not in record:
        return record
    path, start, end = record[LOCATOR]
    return dict(read_span(Path(path), start, end))


def item_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The official fields of a record, in pred.py's order (what its prediction lines start with)."""
    return {name: record[name] for name in ITEM_FIELDS if name in record}
