"""A run folder on disk: one writer at a time, durable appends, and a run.json whose counts equal the pred files.

Layout: `pred/<task>.jsonl` (the official prediction files, then `pred/result.json`), `ledger.jsonl` (per
prediction: task, `_id`, prompt and generated tokens, whether the prompt was truncated), `run.json` (a
`RunRecord`) and `run.lock` (held with fcntl by the process writing the folder, so the kernel releases it on any
exit, kill -9 included).

A prediction is committed ledger-first: its ledger line is fsynced before its pred line, so every line a pred file
holds has a ledger line, and run.json's counts (done, truncated, tokens) are recomputed from the ledger lines of
the predictions the pred files hold, never accumulated across sessions. A ledger line whose prediction never
landed (a kill between the two appends) is simply superseded when the record is predicted again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.errors import UserError
from longeval.io import write_atomic
from longeval.runs.record import RUN_JSON, RunRecord, TaskCount, Tokens
from longeval.tasks import Task

# What every family's prediction line holds (longeval.benchmarks.base: `prediction_line`); the rest is the family's.
PRED_FIELDS = ("pred", "_id")
LEDGER = "ledger.jsonl"
LOCK = "run.lock"
PRED_DIR = "pred"
RESULT_JSON = "result.json"
RECORD_SCORES = "record_scores.json"


@dataclass(frozen=True)
class RunFolderView:
    """A run folder's layout, read-only: where each of its files is (what report, demo and the commands read).
    `RunFolder` below is the one writer."""

    path: Path

    @property
    def pred_dir(self) -> Path:
        return self.path / PRED_DIR

    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    @property
    def result_json(self) -> Path:
        return self.pred_dir / RESULT_JSON

    @property
    def ledger_path(self) -> Path:
        return self.path / LEDGER

    @property
    def record_scores(self) -> Path:
        """Per-record scores kept when the run was scored (runs/record_scores.py)."""
        return self.path / RECORD_SCORES

    def pred_file(self, stem: str) -> Path:
        return self.pred_dir / f"{stem}.jsonl"

    def is_run(self) -> bool:
        """Whether the folder holds a run (its run.json)."""
        return self.run_json.is_file()

    def record(self) -> RunRecord:
        """run.json, typed (a folder written by any earlier version loads; malformed JSON is a UserError)."""
        return RunRecord.load(self.run_json)

    @classmethod
    def of(cls, path: str | Path) -> RunFolderView | None:
        """The run a path names: a run folder or its pred/ folder; None when it is neither."""
        folder = Path(path)
        for candidate in (folder, folder.parent) if folder.name == PRED_DIR else (folder,):
            if (candidate / RUN_JSON).is_file():
                return cls(candidate)
        return None


def read_finished(path: Path) -> dict[str, dict[str, Any]]:
    """`_id` -> line of a prediction file; a torn last line (kill -9 mid-write) is dropped and the file rewritten."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    kept: dict[str, dict[str, Any]] = {}
    dirty = not text.endswith("\n") and text != ""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = number == len(lines) or all(not rest.strip() for rest in lines[number:])
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not all(key in obj for key in PRED_FIELDS):
                raise ValueError("not a prediction line")
        except ValueError:
            if is_last:  # the line being written when the process died
                dirty = True
                continue
            raise UserError("malformed prediction line (not written by an interrupted run; fix or delete the file)",
                            path=path, line=number) from None
        if obj["_id"] in kept:
            dirty = True
            continue
        kept[obj["_id"]] = obj
    if dirty:
        write_atomic(path, "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in kept.values()))
    return kept


# Flags for the files a run appends to: a symbolic link planted in the folder is not followed (ELOOP).
APPEND_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def append_durably(path: Path, lines: Sequence[dict[str, Any]]) -> None:
    """Append JSON lines and make them reach the disk before returning; all or nothing.

    A write that fails (a full disk, a quota) is cut back to the file's size before it, so no half line is left,
    and becomes a UserError: the lines appended before stay, and the same command resumes once there is room.
    """
    data = "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in lines).encode("utf-8")
    try:
        fd = os.open(path, APPEND_FLAGS, 0o666)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn last line (a kill mid-append) must not swallow the first line appended now
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise write_error(path, exc) from None
    finally:
        os.close(fd)


def write_error(path: Path, exc: OSError) -> UserError:
    """One line for a run folder file that cannot be written (the predictions made durable before are kept)."""
    if exc.errno == errno.ELOOP:
        return UserError("is a symbolic link; a run folder's files must be its own (remove the link)", path=path)
    return UserError(f"cannot write ({exc.strerror or exc}); the predictions written before are kept: make room "
                     "(or fix the folder) and run the same command again to resume", path=path)


def refuse_links(folder: Path) -> None:
    """A symbolic link inside a run folder (pred/, a pred file, run.lock, the ledger, run.json) would have the run
    read or write outside --out: the folder is refused, naming the link."""
    pred = folder / "pred"
    entries = [pred, folder / LOCK, folder / LEDGER, folder / RUN_JSON]
    if pred.is_dir() and not pred.is_symlink():
        entries += sorted(pred.iterdir())
    for entry in entries:
        if entry.is_symlink():
            raise UserError(f"holds a symbolic link, {entry.relative_to(folder)} -> {os.readlink(entry)}; a run "
                            "folder's files must be its own, so that a run never writes outside --out (remove the "
                            "link)", path=folder)


def has_predictions(pred_dir: Path) -> bool:
    """Whether a run folder's pred/ holds any prediction line (an empty file left by a kill does not count)."""
    return pred_dir.is_dir() and any(path.is_file() and path.read_bytes().strip()
                                     for path in pred_dir.glob("*.jsonl"))


@dataclass
class LedgerEntry:
    """What one prediction cost and whether its prompt was cut (the counts run.json sums)."""

    task: str
    id: str
    prompt_tokens: int
    generated_tokens: int | None  # None: unknown (recounted after the ledger was lost; the engine's ids are gone)
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "_id": self.id, "prompt_tokens": self.prompt_tokens,
                "generated_tokens": self.generated_tokens, "truncated": self.truncated}


def read_ledger(path: Path) -> dict[tuple[str, str], LedgerEntry]:
    """(task, _id) -> the latest ledger line; torn or foreign lines are skipped (they count nothing)."""
    entries: dict[tuple[str, str], LedgerEntry] = {}
    if not path.is_file():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
            generated = obj["generated_tokens"]
            entry = LedgerEntry(task=str(obj["task"]), id=str(obj["_id"]), prompt_tokens=int(obj["prompt_tokens"]),
                                generated_tokens=None if generated is None else int(generated),
                                truncated=bool(obj["truncated"]))
        except (ValueError, KeyError, TypeError):
            continue
        entries[(entry.task, entry.id)] = entry
    return entries


@dataclass
class RunFolder:
    """An open run folder, locked for this process until `close`."""

    path: Path
    _lock_handle: Any = None
    _created: list[Path] = field(default_factory=list)
    # task name -> _id -> ledger entry of each prediction its pred file holds
    done: dict[str, dict[str, LedgerEntry]] = field(default_factory=dict)
    unledgered: dict[str, list[str]] = field(default_factory=dict)  # task -> _ids in pred/ the ledger lacks

    @property
    def view(self) -> RunFolderView:
        return RunFolderView(self.path)

    @property
    def pred_dir(self) -> Path:
        return self.view.pred_dir

    @property
    def run_json(self) -> Path:
        return self.view.run_json

    @property
    def ledger_path(self) -> Path:
        return self.view.ledger_path

    def pred_file(self, base: str) -> Path:
        return self.view.pred_file(base)

    # ------------------------------------------------------------------------------------------- open and close

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Create (if needed) and lock the folder; a folder another live process writes is refused at once."""
        folder = cls(path)
        if path.is_dir():
            refuse_links(path)
        missing = [p for p in (folder.pred_dir, path, *path.parents) if not os.path.lexists(p)]
        folder._created = missing  # innermost first
        lock_existed = os.path.lexists(path / LOCK)
        try:
            folder.pred_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            folder._remove_created()
            if exc.errno == errno.ELOOP:
                raise write_error(path / LOCK, exc) from None
            raise UserError(f"cannot create the run folder ({exc.strerror or exc})", path=folder.pred_dir) from None
        handle = os.fdopen(fd, "r+b", buffering=0)  # unbuffered: a failed write fails here, not at close
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = handle.read().decode("utf-8", "replace").strip() or "unknown"
            handle.close()
            raise UserError(f"is being written by another longeval run (pid {holder}); wait for it to end, or use "
                            "another --run-name or --out", path=path) from None
        folder._lock_handle = handle
        try:
            handle.truncate()
            handle.write(f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full disk: nothing of this session may stay
            if not lock_existed:
                with contextlib.suppress(OSError):
                    (path / LOCK).unlink()
            folder.close()
            folder._remove_created()
            raise UserError(f"cannot start a run here ({exc.strerror or exc})", path=path) from None
        return folder

    def close(self) -> None:
        """Release the lock (the kernel does it too if the process dies)."""
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def discard_if_unused(self) -> None:
        """After a run that ended before its first prediction (refused, or a full disk): remove run.json, the
        ledger, the lock and the folders this session created (a run.json without predictions binds nothing:
        `previous` starts such a folder afresh), so nothing half-made is left."""
        if has_predictions(self.pred_dir):
            self.close()
            return
        leftovers = [self.path / name for name in (RUN_JSON, LEDGER, LOCK)]
        if self.pred_dir.is_dir():  # pred files without a prediction line (created by a failed first append)
            leftovers += list(self.pred_dir.glob("*.jsonl"))
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                leftover.unlink()
        self.close()
        self._remove_created()

    def _remove_created(self) -> None:
        for created in self._created:  # innermost first; only folders left empty
            with contextlib.suppress(OSError):
                created.rmdir()

    # --------------------------------------------------------------------------------------------- the record

    def previous(self) -> RunRecord | None:
        """The run this folder already holds, or None when it holds nothing to continue.

        A run.json without any prediction (a run stopped before its first batch) is nothing to mix: the folder
        starts afresh, its ledger cleared.
        """
        holds = has_predictions(self.pred_dir)
        if self.run_json.is_file():
            record = RunRecord.load(self.run_json)
            if holds:
                return record
        elif holds:
            raise UserError("holds predictions without run.json (settings unknown); use another --run-name or --out",
                            path=self.path)
        self.ledger_path.unlink(missing_ok=True)
        return None

    def load_done(self, tasks: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Pred lines of every task (name -> base file), and the ledger entries behind them, kept in `done`."""
        ledger = read_ledger(self.ledger_path)
        finished = {}
        for name, base in tasks.items():
            finished[name] = read_finished(self.pred_file(base))
            self.done[name] = {}
            for _id in finished[name]:
                # Every pred line was preceded by its ledger line; one missing means the ledger was lost (deleted,
                # or a folder written by an older longeval): `recount` recomputes what it can.
                entry = ledger.get((name, _id))
                if entry is None:
                    self.unledgered.setdefault(name, []).append(_id)
                    entry = LedgerEntry(name, _id, 0, None, False)
                self.done[name][_id] = entry
        return finished

    def recount(self, name: str, entries: Sequence[LedgerEntry]) -> None:
        """Ledger lines recomputed for predictions the ledger lacked (prompt tokens and truncation; generated
        tokens unknown), appended so that the next session reads them."""
        if entries:
            append_durably(self.ledger_path, [entry.to_json() for entry in entries])
            self.done.setdefault(name, {}).update((entry.id, entry) for entry in entries)

    def unknown_generated(self) -> int:
        """Predictions whose generated-token count is unknown (left out of run.json's tokens.generated)."""
        return sum(e.generated_tokens is None for d in self.done.values() for e in d.values())

    def commit(self, task: str, base: str, lines: Sequence[dict[str, Any]], entries: Sequence[LedgerEntry]) -> None:
        """Make predictions durable: ledger lines first, then the pred lines (the durable-write unit)."""
        append_durably(self.ledger_path, [entry.to_json() for entry in entries])
        append_durably(self.pred_file(base), lines)
        self.done.setdefault(task, {}).update((entry.id, entry) for entry in entries)

    def fill_counts(self, record: RunRecord, totals: dict[str, int]) -> None:
        """run.json's counts from what the pred files hold (via the ledger); `totals`: records selected per task."""
        for name in record.tasks:
            entries = self.done.get(name, {})
            total = totals.get(name, record.records[name].total if name in record.records else len(entries))
            record.records[name] = TaskCount(done=len(entries), total=total)
            record.truncated[name] = sum(e.truncated for e in entries.values())
        record.tokens = Tokens(prompt=sum(e.prompt_tokens for d in self.done.values() for e in d.values()),
                               generated=sum(e.generated_tokens or 0 for d in self.done.values() for e in d.values()))

    def save(self, record: RunRecord) -> None:
        record.save(self.run_json)


# ------------------------------------------------------------------------------------------ what may continue

def check_same_settings(folder: Path, previous: RunRecord, settings: dict[str, Any], fingerprint: str,
                        data_files: dict[str, str],
                        prefix_sha256: Callable[[str, int], str | None] | None = None) -> None:
    """Refuse to resume into a run made with other settings (other weights included) or other data files.

    Generated records are hashed as made, so a higher --limit changes their checksum: `prefix_sha256` (the
    source's digest of its first K generated records) lets a run grow when the records it already had are the
    same (the first `previous.limit` of the new ones)."""
    old = previous.settings
    if previous.fingerprint != fingerprint:
        differ = sorted(key for key in set(old) | set(settings) if old.get(key) != settings.get(key))
        detail = "; ".join(f"{key}: {_short(old.get(key))} -> {_short(settings.get(key))}" for key in differ)
        raise UserError(f"holds a run with other settings ({detail or 'unknown'}); use another --run-name or --out",
                        path=folder)
    for name, digest in data_files.items():
        if name in previous.data.files and previous.data.files[name] != digest:
            grown = previous.limit is not None and prefix_sha256 is not None \
                and prefix_sha256(name, previous.limit) == previous.data.files[name]
            if not grown:
                raise UserError(f"holds a run made with a different {name} (checksum changed); use another "
                                "--run-name", path=folder)


def check_same_server(folder: Path, previous: RunRecord | None, versions: dict[str, str]) -> None:
    """A served run (--backend openai) continues only on the model it began with: a server restarted with other
    weights (or method, dtype) under the same address would mix two models' predictions in one folder."""
    from longeval.backends.served import same_served_model

    before = previous.versions.get("served_model") if previous is not None else None
    now = versions.get("served_model")
    if before and now and not same_served_model(before, now):
        raise UserError(f"holds a run made on the served model '{before}', the server now serves '{now}' (restarted "
                        "with other weights or settings?); serve the same model again or use another --run-name",
                        path=folder)


def check_task_versions(folder: Path, previous: RunRecord, tasks: Sequence[Task]) -> None:
    """A task whose definition changed would mix two kinds of prediction in one file."""
    for task in tasks:
        recorded = previous.task_versions.get(task.name, task.version)
        if recorded != task.version:
            raise UserError(f"holds task {task.name} version {recorded}, the task is now version {task.version}; "
                            "use another --run-name", path=folder)


def check_selection(folder: Path, finished: dict[str, dict[str, Any]], records: dict[str, list[dict[str, Any]]],
                    limit: int | None) -> None:
    """Refuse a resume whose records leave out predictions the folder holds (a lower --limit): run.json's limit
    and counts would no longer describe what is scored. A higher --limit, or none, extends the run."""
    for task, lines in finished.items():
        if task not in records:
            continue
        selected = {r["_id"] for r in records[task]}
        outside = [i for i in lines if i not in selected]
        if outside:
            raise UserError(f"holds {len(lines)} {task} predictions, {len(outside)} of them outside the "
                            f"{len(selected)} records selected now (--limit {limit}); resume with the same or a "
                            "higher --limit (or none), or use another --run-name", path=folder)


def _short(value: Any) -> str:
    """Digests shortened, so a refusal stays one readable line."""
    text = repr(value)
    return text[:14] + "...'" if isinstance(value, str) and len(value) == 64 else text
