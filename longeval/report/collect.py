"""Find runs on disk and read their scores: run folders, pred folders, plain official folders, report CSVs.

Everything downstream (tables, plots, the CI check) works on `RunResult`, so the many shapes a result can come
in are dealt with here once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks import benchmark_of, result_buckets, result_details
from longeval.errors import UserError
from longeval.runs.folder import RESULT_JSON, RunFolderView
from longeval.runs.record import MethodInfo, RunRecord
from longeval.tasks import all_tasks

META_COLUMNS = ("run", "model", "method", "max_length", "source", "status", "limit", "bucket")
# What `check` compares besides the scores, carried by a report CSV so that a CSV baseline is checked as a run
# folder is: per task the records scored and a digest of their _ids ("task=value" pairs), the data files' sha256.
RECORD_COLUMNS = ("records", "ids_sha256", "data_sha256")


def ids_digest(ids: frozenset[str]) -> str:
    """One sha256 over a set of record _ids (order-free), so a CSV can say which records a score is over."""
    return hashlib.sha256("".join(i + "\n" for i in sorted(ids)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RecordSet:
    """Which records one task of a run was scored on: how many, and their `_id`s when the file carries them."""

    count: int
    ids: frozenset[str] | None
    digest: str | None = None  # ids_digest(ids); all a CSV carries of the _ids

    def __post_init__(self) -> None:
        if self.digest is None and self.ids is not None:
            object.__setattr__(self, "digest", ids_digest(self.ids))


@dataclass
class RunResult:
    """The scores of one run (measured or published) plus what identifies it in a table."""

    name: str
    scores: dict[str, float] = field(default_factory=dict)  # task -> score (x100, as result.json)
    buckets: dict[str, dict[str, float]] = field(default_factory=dict)  # LongBench-E: base task -> bucket -> score
    model: str | None = None
    method: str | None = None  # spec with parameters, e.g. "yarn:factor=4"
    max_length: int | None = None
    source: str = "measured"  # "measured", or where published numbers come from
    status: str | None = None  # run.json status ("complete"/"partial"); None for plain folders
    limit: int | None = None  # run.json limit: only the first N records of each task were predicted
    path: str | None = None
    pred_dir: str | None = None  # where its <task>.jsonl prediction files are, when it has them
    data_files: dict[str, str] = field(default_factory=dict)  # run.json: data file name -> sha256
    record_sets: dict[str, RecordSet] = field(default_factory=dict)  # a CSV's records/ids_sha256 columns
    # Why the records behind the scores cannot be checked (a CSV written before it carried them); None: they can.
    unverifiable: str | None = None

    def record_set(self, task: str) -> RecordSet | None:
        """The records task `task` was scored on, from its prediction file (None: no file to tell)."""
        if self.pred_dir is None:
            return self.record_sets.get(task)
        path = Path(self.pred_dir) / f"{task}.jsonl"
        if not path.is_file():
            return None
        count, ids = 0, set()
        try:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    count += 1
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        raise UserError("malformed prediction line", path=path, line=count) from None
                    record_id = record.get("_id") if isinstance(record, dict) else None
                    if isinstance(record_id, str):
                        ids.add(record_id)
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read ({exc})", path=path) from None
        # Official pred.py writes no _id: then only the count can be compared.
        return RecordSet(count, frozenset(ids) if len(ids) == count else None)

    @property
    def is_reference(self) -> bool:
        return self.source != "measured"

    def entries(self) -> dict[str, float]:
        """Every score under one flat key (task, or task[bucket] for LongBench-E) — what the CI check compares."""
        flat = dict(self.scores)
        for task, by_bucket in self.buckets.items():
            for bucket, value in by_bucket.items():
                flat[f"{task}[{bucket}]"] = value
        return flat


def collect_runs(paths: Sequence[str | Path]) -> list[RunResult]:
    """Every run under the given paths, in the order given; parent folders expand to the runs inside them."""
    runs: list[RunResult] = []
    for raw in paths:
        runs.extend(_collect_one(Path(raw)))
    _make_names_unique(runs)
    return runs


def load_single_run(path: str | Path) -> RunResult:
    """Exactly one run (for `check`): a run folder, a pred/plain folder, a result.json, or a one-row report CSV."""
    runs = _collect_one(Path(path))
    if len(runs) != 1:
        names = ", ".join(run.name for run in runs)
        raise UserError(f"expected one run, found {len(runs)} ({names}); name a single run folder", path=path)
    return runs[0]


def _collect_one(path: Path) -> list[RunResult]:
    if not path.exists():
        raise UserError("no such file or folder", path=path)
    if path.is_file():
        if path.suffix == ".csv":
            return read_report_csv(path)
        if path.suffix == ".json":
            return [_plain_run(path.parent, path)]
        raise UserError("expected a run folder, a result.json or a report .csv", path=path)
    found = _run_in_folder(path)
    if found is not None:
        return [found]
    runs = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        try:
            run = _run_in_folder(child)
        except UserError as exc:  # one broken run in a parent folder should not hide the others
            print(f"longeval report: warning: skipped {exc}", file=sys.stderr)
            continue
        if run is not None:
            runs.append(run)
    if not runs:
        raise UserError("no runs here (a run folder has run.json and pred/result.json; a plain folder has "
                        "result.json)", path=path)
    return runs


def _run_in_folder(folder: Path) -> RunResult | None:
    """The run stored in this folder, or None when the folder holds no run itself."""
    run = RunFolderView.of(folder)
    if run is not None:
        return _measured_run(run)
    if (folder / RESULT_JSON).is_file():
        return _plain_run(folder, folder / RESULT_JSON)
    if RunFolderView(folder).result_json.is_file():
        return _plain_run(folder, RunFolderView(folder).result_json)
    return None


def _measured_run(run: RunFolderView) -> RunResult:
    folder = run.path
    record = RunRecord.from_json(_read_json(run.run_json), run.run_json)
    result = run.result_json
    if not result.is_file():
        raise UserError("run has no pred/result.json yet (score it with `longeval score`)", path=folder)
    scores, buckets = parse_result(_read_json(result), result)
    return RunResult(
        name=record.run_name or folder.name,
        scores=scores,
        buckets=buckets,
        model=record.model.name or (Path(record.model.path).name if record.model.path else None),
        method=_method_label(record.method),
        max_length=record.max_length,
        status=record.status,
        limit=record.limit,
        path=str(folder),
        pred_dir=str(run.pred_dir),
        data_files=dict(record.data.files),
    )


def _method_label(method: MethodInfo) -> str | None:
    """The method with every parameter (the canonical spec leaves defaults out; a table reader needs them)."""
    params = {k: v for k, v in method.params.items() if v is not None}
    if not method.name or not params:
        return method.spec or method.name
    return method.name + ":" + ",".join(f"{k}={_compact(v)}" for k, v in params.items())


def _compact(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _plain_run(folder: Path, result: Path) -> RunResult:
    name = folder.name if folder.name != "pred" else folder.parent.name
    scores, buckets = parse_result(_read_json(result), result)
    return RunResult(name=name or str(folder), scores=scores, buckets=buckets, model=name, path=str(folder),
                     pred_dir=str(result.parent))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    except OSError as exc:
        raise UserError(f"cannot read ({exc.strerror})", path=path) from None


def _number(value: Any, path: Path, task: str, *, line: int | None = None, bucket: bool = False) -> float | None:
    """A score: a finite number in [0, 100] (LongBench scores are x100); None for a missing one. NaN is missing
    only in a LongBench-E bucket (official eval.py writes it for an empty bucket); anywhere else a score that is
    not a finite number in range is a UserError naming the file and task: a gate cannot judge it (NaN compares
    false with everything, so a NaN drop would pass)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"expected a number, got {value!r}", path=path, line=line, field=task)
    if bucket and math.isnan(value):
        return None
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise UserError(f"a score must be a finite number in [0, 100], got {value!r}", path=path, line=line,
                        field=task)
    return float(value)


def parse_result(doc: Any, path: Path) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Split an official result.json into plain task scores and bucket scores (by the file stem of the task; a
    dict entry's bucket names are those its family declares, and its headline, if it has one, is a plain score)."""
    if not isinstance(doc, dict) or not doc:
        raise UserError("expected a JSON object of task -> score", path=path)
    scores: dict[str, float] = {}
    buckets: dict[str, dict[str, float]] = {}
    for task, value in doc.items():
        if isinstance(value, dict):
            known = all_tasks().get(task)
            unit = benchmark_of(known) if known is not None else None
            base = unit.pred_file_stem(known) if unit is not None and known is not None else task
            expected = unit.result_buckets if unit is not None and unit.result_buckets else result_buckets()
            details = unit.result_details if unit is not None else result_details()
            parsed = {b: _number(v, path, f"{task}[{b}]", bucket=True) for b, v in value.items()
                      if b not in details}
            if set(parsed) - set(expected):
                raise UserError(f"unknown length bucket(s) {sorted(set(parsed) - set(expected))}; expected "
                                f"{', '.join(expected)}", path=path, field=task)
            buckets[base] = {b: v for b, v in parsed.items() if v is not None}
            headline = unit.headline(known, value) if unit is not None and known is not None else None
            if headline is not None:
                scores[task] = headline
        else:
            number = _number(value, path, task)
            if number is not None:
                scores[task] = number
    return scores, buckets


def read_report_csv(path: Path) -> list[RunResult]:
    """Runs back from a CSV written by `longeval report` (so a committed leaderboard can be a CI baseline)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read CSV ({exc})", path=path) from None
    if "run" not in header:
        raise UserError("not a longeval report CSV (no 'run' column)", path=path, line=1)
    task_columns = [c for c in header if c not in META_COLUMNS and c not in RECORD_COLUMNS and
                    not c.startswith("avg:") and not c.startswith("macro") and
                    not c.endswith((":ci_low", ":ci_high"))]  # report --ci: a score's interval, not a task
    if not task_columns:
        raise UserError("no task columns", path=path, line=1)
    by_name: dict[str, RunResult] = {}
    for number, row in enumerate(rows, start=2):
        name = (row.get("run") or "").strip()
        if not name:
            raise UserError("empty 'run' cell", path=path, line=number)
        run = by_name.setdefault(name, RunResult(
            name=name, model=row.get("model") or None, method=row.get("method") or None,
            max_length=_csv_int(row.get("max_length"), path, number, "max_length"),
            source=row.get("source") or "measured", status=row.get("status") or None,
            limit=_csv_int(row.get("limit"), path, number, "limit"), path=str(path)))
        _csv_record_columns(run, row, header, path, number)
        values = {}
        bucket = (row.get("bucket") or "").strip()
        for column in task_columns:
            cell = (row.get(column) or "").strip()
            if cell:
                try:
                    value = float(cell)
                except ValueError:
                    raise UserError(f"not a number: {cell!r}", path=path, line=number, field=column) from None
                score = _number(value, path, f"{column}[{bucket}]" if bucket else column, line=number)
                if score is not None:
                    values[column] = score
        if bucket:
            for task, value in values.items():
                run.buckets.setdefault(task, {})[bucket] = value
        else:
            run.scores.update(values)
    if not by_name:
        raise UserError("CSV has no rows", path=path)
    return list(by_name.values())


def _csv_record_columns(run: RunResult, row: dict[str, str | None], header: Sequence[str], path: Path,
                        line: int) -> None:
    """The records/ids_sha256/data_sha256 cells of a row into `run` (or why they cannot be checked)."""
    if not all(column in header for column in RECORD_COLUMNS):
        run.unverifiable = (f"{path} carries no record counts, _ids or data checksums (written by an older "
                            "longeval report), so the records behind its scores cannot be checked")
        return
    counts = _csv_pairs(row.get("records"), path, line, "records")
    if not counts and run.source == "measured":
        run.unverifiable = (f"{path} line {line} ({run.name}) carries no record counts (its run had no prediction "
                            "files), so the records behind its scores cannot be checked")
    digests = _csv_pairs(row.get("ids_sha256"), path, line, "ids_sha256")
    run.data_files.update(_csv_pairs(row.get("data_sha256"), path, line, "data_sha256"))
    for task, count in counts.items():
        if not count.isdigit():
            raise UserError(f"expected task=count pairs, got {count!r} for {task}", path=path, line=line,
                            field="records")
        run.record_sets[task] = RecordSet(int(count), None, digests.get(task))


def _csv_pairs(cell: str | None, path: Path, line: int, column: str) -> dict[str, str]:
    """'a=1 b=2' -> {'a': '1', 'b': '2'} (the form to_csv writes: no name holds a space or '=')."""
    pairs = {}
    for item in (cell or "").split():
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UserError(f"expected name=value pairs separated by spaces, got {item!r}", path=path, line=line,
                            field=column)
        pairs[name] = value
    return pairs


def record_columns(run: RunResult) -> dict[str, str]:
    """The RECORD_COLUMNS cells of a run (what `check` reads back from a CSV); empty cells where unknown."""
    sets = {}
    for task in sorted({*run.scores, *run.buckets}):
        found = run.record_set(task)
        if found is not None:
            sets[task] = found
    return {"records": " ".join(f"{t}={s.count}" for t, s in sets.items()),
            "ids_sha256": " ".join(f"{t}={s.digest}" for t, s in sets.items() if s.digest),
            "data_sha256": " ".join(f"{n}={d}" for n, d in sorted(run.data_files.items()))}


def _csv_int(cell: str | None, path: Path, line: int, column: str) -> int | None:
    if not cell or not cell.strip():
        return None
    try:
        return int(float(cell))
    except ValueError:
        raise UserError(f"not an integer: {cell!r}", path=path, line=line, field=column) from None


def _make_names_unique(runs: list[RunResult]) -> None:
    """Two folders with the same name (e.g. two `.../llama/` trees) get their parent's name in front."""
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
    for run in runs:
        if seen[run.name] > 1 and run.path:
            run.name = f"{Path(run.path).parent.name}/{run.name}"
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
        if counts[run.name] > 1:
            run.name = f"{run.name}#{counts[run.name]}"
