"""run.json as a typed record: what the runner writes and what `report` reads, with the same type.

The JSON keys are the published run.json schema; `from_json` is lenient (a run folder written by an older
longeval, or by hand, still reports) but never guesses: a key of the wrong type reads as missing.

Schema versions: 1 (no `schema_version` key; written before benchmark families were units) had a top-level
`longbench_e` boolean; 2 leaves what a family adds to its `settings` (LongBench: `settings.longbench_e`). A version-1
run.json reads as version 2 (its `settings` already held `longbench_e`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from longeval.errors import UserError
from longeval.io import write_json_atomic

RUN_JSON = "run.json"
SCHEMA_VERSION = 2  # what this longeval writes; folders of every earlier version still load


@dataclass
class ModelInfo:
    path: str | None = None
    name: str | None = None
    config_sha256: str | None = None
    # Digest of the weight files' names, sizes and contents (runs.identity): a folder belongs to one checkpoint.
    weights_sha256: str | None = None
    # A hub model (--model org/name[@revision]): the repository, the revision asked for and the commit it was.
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    # --model named a GGUF file (converted into `path` by longeval.gguf): the file, its sha256, its quantization.
    gguf_file: str | None = None
    gguf_sha256: str | None = None
    gguf_quant_type: str | None = None


@dataclass
class MethodInfo:
    name: str | None = None
    spec: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    from_checkpoint: bool = False  # no --method: the method the checkpoint's config carries
    checkpoint_rope: dict[str, Any] = field(default_factory=dict)  # the checkpoint's own RoPE settings, as written


@dataclass
class BackendInfo:
    name: str | None = None
    dtype: str | None = None
    dtype_used: str | None = None
    # The engine was started by an earlier run of the same command (a length sweep sharing one engine).
    engine_reused: bool = False
    # The engine options the user set (backends/options.py: parallel sizes, --engine-arg ...); {} for defaults.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataInfo:
    source: str | None = None
    sha256: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)  # task -> its family's data_identity (seed, inputs)


@dataclass
class Tokens:
    prompt: int = 0
    generated: int = 0


@dataclass
class TaskCount:
    """Records of one task: `done` predictions in its pred file out of the `total` the run selected."""

    done: int = 0
    total: int = 0


@dataclass
class RunRecord:
    """Everything a run folder says about itself (run.json)."""

    run_name: str
    schema_version: int = SCHEMA_VERSION
    model: ModelInfo = field(default_factory=ModelInfo)
    method: MethodInfo = field(default_factory=MethodInfo)
    max_length: int | None = None
    max_length_given: bool = False
    prompt_max_length: dict[str, int] = field(default_factory=dict)
    context_window: int | None = None
    engine_max_length: int | None = None
    chat_wrapper: str | None = None
    chat_tasks: list[str] = field(default_factory=list)
    backend: BackendInfo = field(default_factory=BackendInfo)
    versions: dict[str, str | None] = field(default_factory=dict)
    data: DataInfo = field(default_factory=DataInfo)
    tasks: list[str] = field(default_factory=list)  # every task the folder holds (a resumed run may add tasks)
    task_versions: dict[str, int] = field(default_factory=dict)  # the task definitions' versions (checked on resume)
    limit: int | None = None  # only the first `limit` records of each task were selected
    started: str | None = None
    finished: str | None = None
    sessions: int = 0
    # Counted from what the pred files hold (the ledger), never accumulated across sessions.
    tokens: Tokens = field(default_factory=Tokens)
    tokens_per_second: float | None = None
    truncated: dict[str, int] = field(default_factory=dict)
    records: dict[str, TaskCount] = field(default_factory=dict)
    status: str | None = "partial"  # "partial" | "complete" (None: not said, a folder made by hand)
    settings: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return bool(self.records) and all(c.done >= c.total for c in self.records.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Any, path: str | Path = RUN_JSON) -> RunRecord:
        if not isinstance(doc, dict):
            raise UserError("expected a JSON object", path=path)
        return cls(
            run_name=_str(doc.get("run_name")) or Path(path).parent.name,
            schema_version=_int(doc.get("schema_version")) or 1,
            model=ModelInfo(**_fields(doc.get("model"), ModelInfo, str)),
            method=MethodInfo(name=_str(_get(doc, "method", "name")), spec=_str(_get(doc, "method", "spec")),
                              params=_dict(_get(doc, "method", "params")),
                              from_checkpoint=_get(doc, "method", "from_checkpoint") is True,
                              checkpoint_rope=_dict(_get(doc, "method", "checkpoint_rope"))),
            max_length=_int(doc.get("max_length")),
            max_length_given=doc.get("max_length_given") is True,
            prompt_max_length={k: v for k, v in _dict(doc.get("prompt_max_length")).items() if _int(v) is not None},
            context_window=_int(doc.get("context_window")),
            engine_max_length=_int(doc.get("engine_max_length")),
            chat_wrapper=_str(doc.get("chat_wrapper")),
            chat_tasks=[t for t in _list(doc.get("chat_tasks")) if isinstance(t, str)],
            backend=BackendInfo(**_fields(doc.get("backend"), BackendInfo, str),
                                engine_reused=_get(doc, "backend", "engine_reused") is True,
                                options=_dict(_get(doc, "backend", "options"))),
            versions={k: v for k, v in _dict(doc.get("versions")).items() if v is None or isinstance(v, str)},
            data=DataInfo(source=_str(_get(doc, "data", "source")), sha256=_str(_get(doc, "data", "sha256")),
                          files={k: v for k, v in _dict(_get(doc, "data", "files")).items() if isinstance(v, str)},
                          identity=_dict(_get(doc, "data", "identity"))),
            tasks=[t for t in _list(doc.get("tasks")) if isinstance(t, str)],
            task_versions={k: v for k, v in _dict(doc.get("task_versions")).items() if _int(v) is not None},
            limit=_int(doc.get("limit")),
            started=_str(doc.get("started")),
            finished=_str(doc.get("finished")),
            sessions=_int(doc.get("sessions")) or 0,
            tokens=Tokens(prompt=_int(_get(doc, "tokens", "prompt")) or 0,
                          generated=_int(_get(doc, "tokens", "generated")) or 0),
            tokens_per_second=_float(doc.get("tokens_per_second")),
            truncated={k: v for k, v in _dict(doc.get("truncated")).items() if _int(v) is not None},
            records={k: TaskCount(done=_int(v.get("done")) or 0, total=_int(v.get("total")) or 0)
                     for k, v in _dict(doc.get("records")).items() if isinstance(v, dict)},
            status=_str(doc.get("status")),
            settings=_dict(doc.get("settings")),
            fingerprint=_str(doc.get("fingerprint")),
            timing={k: float(v) for k, v in _dict(doc.get("timing")).items() if _float(v) is not None},
        )

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        """run.json at `path`; unreadable or malformed JSON is a located UserError."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed JSON ({exc.msg}); not a longeval run folder?", path=path,
                            line=exc.lineno) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read ({getattr(exc, 'strerror', None) or exc})", path=path) from None
        return cls.from_json(doc, path)

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.to_json(), indent=1)


def _get(doc: dict[str, Any], outer: str, inner: str) -> Any:
    value = doc.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fields(value: Any, cls: type, kind: type) -> dict[str, Any]:
    """The keys of dataclass `cls` found in `value` with the right type."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in _dict(value).items() if k in names and isinstance(v, kind)}
