"""LongBench v1 (THUDM/LongBench @ 2e00731) and LongBench-E as one family: official prompts, metrics, result.json.

A LongBench-E task is a variant of its v1 task (`variant_of:` in its YAML): same prompt, metric and limits, its
own data file (`<task>_e.jsonl`), predictions in the base task's file name (as the official pred.py writes them
under pred_e/), and its result.json entry split by the record's `length` into the buckets 0-4k, 4-8k, 8k+.
The record schema and loader are data.py here, the prompt procedure longeval.prompts, the metrics
longeval.benchmarks.longbench.metrics, the aggregation longeval.scoring: this unit is where the core reaches them.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longeval.benchmarks import register
from longeval.benchmarks.base import Benchmark, KeySpec, RunView
from longeval.benchmarks.longbench.scoring import BUCKETS
from longeval.errors import UserError
from longeval.tasks import Task

if TYPE_CHECKING:
    from longeval.backends.base import Generation
    from longeval.data import DataSource

LANGUAGES = ("en", "zh", "code")
# Where a task's records come from: a LongBench data file (<data_file>.jsonl in the --data folder/zip/hub), or a
# generator registered in benchmarks/longbench/data.py GENERATORS (synthetic tasks whose records are made, not read).
SOURCES = ("longbench", "generated")
# Record fields a prompt template may name (str.format(**record)); the record schema is in data.py here.
PROMPT_FIELDS = ("context", "input")
SHORT_BUCKET = "0-4k"  # inputs inside a 4k original window: the short-context check's LongBench-E column
# The official prediction line (pred.py) and the fields a resumed run needs back.
PRED_FIELDS = ("pred", "answers", "all_classes", "length", "_id")


@dataclass(frozen=True)
class LongBenchTask(Task):
    """Everything the official pred.py/eval.py know about one task, as data."""

    metric: str = ""  # a name in longeval.benchmarks.longbench.metrics.METRICS
    first_line: bool = False  # eval.py scores only the first line of the prediction (trec, triviaqa, samsum, lsht)
    samples: int | None = None  # records in the official test set (LongBench-E: not fixed)
    data_file: str | None = None  # data file stem; defaults to name
    source: str = "longbench"  # one of SOURCES
    generator: str | None = None  # source "generated": the generator's name in data.GENERATORS
    generator_args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def base(self) -> str:
        """The LongBench v1 task whose prediction file name and metric this task uses."""
        return self.variant_of or self.name

    @property
    def file_stem(self) -> str:
        return self.data_file or self.name

    @property
    def is_e(self) -> bool:
        return self.variant_of is not None


def _required(types: tuple[type, ...], description: str) -> KeySpec:
    return KeySpec(types, description, required=True)


@register
class LongBench(Benchmark):
    """LongBench v1 and LongBench-E (its variants)."""

    name = "longbench"
    title = "LongBench"
    bucket_title = "LongBench-E by length bucket"
    short_context_label = "LongBench-E scores in the 0-4k bucket"
    task_class = LongBenchTask
    default_for_untagged = True
    not_inherited = ("short_name", "samples", "data_file")
    result_buckets: ClassVar[tuple[str, ...]] = BUCKETS
    task_keys: ClassVar[dict[str, KeySpec]] = {
        "language": _required((str,), f"one of {', '.join(LANGUAGES)}"),
        "category": _required((str,), "a string"),
        "metric": _required((str,), "a metric name"),
        "chat": _required((bool,), "true or false"),
        "first_line": _required((bool,), "true or false"),
        "prompt": _required((str,), "a string"),
        "samples": KeySpec((int,), "a positive integer"),
        "data_file": KeySpec((str,), "a file name without .jsonl"),
        "source": KeySpec((str,), f"one of {', '.join(SOURCES)}"),
        "generator": KeySpec((str,), "a generator name"),
        "generator_args": KeySpec((dict,), "a mapping"),
    }

    # --- task files --------------------------------------------------------------------------------------------

    def check_task(self, doc: Mapping[str, Any], path: Path) -> None:
        if "data_file" in doc:  # read from <--data>/<data_file>.jsonl: it may not leave --data
            from longeval.tasks import check_file_stem

            check_file_stem(doc["data_file"], path, "data_file")
        if "samples" in doc and doc["samples"] < 1:
            raise UserError("must be a positive integer", path=path, field="samples")
        if doc["language"] not in LANGUAGES:
            raise UserError(f"unknown language '{doc['language']}' (known: {', '.join(LANGUAGES)})", path=path,
                            field="language")
        from longeval.benchmarks.longbench.metrics import METRICS

        if doc["metric"] not in METRICS:
            raise UserError(f"unknown metric '{doc['metric']}' (known: {', '.join(METRICS)})", path=path,
                            field="metric")
        if doc.get("source", "longbench") not in SOURCES:
            raise UserError(f"unknown source '{doc['source']}' (known: {', '.join(SOURCES)})", path=path,
                            field="source")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(doc["prompt"]) if name is not None}
        except ValueError as exc:
            raise UserError(f"not a valid template ({exc})", path=path, field="prompt") from None
        unknown = sorted(names - set(PROMPT_FIELDS))
        if unknown:
            raise UserError(f"names unknown record field(s) {', '.join(unknown)} (known: {', '.join(PROMPT_FIELDS)})",
                            path=path, field="prompt")
        if doc.get("source", "longbench") == "generated" and "generator" not in doc:
            raise UserError("missing field (a generated task names its generator)", path=path, field="generator")
        if doc.get("source", "longbench") != "generated":
            for key in ("generator", "generator_args"):
                if key in doc:
                    raise UserError("only a task with source: generated takes this key", path=path, field=key)

    # --- runs --------------------------------------------------------------------------------------------------

    def check_run(self, tasks: Sequence[Task]) -> None:
        if len({_lb(task).is_e for task in tasks}) > 1:
            raise UserError("LongBench and LongBench-E tasks cannot share a run (their result.json formats differ); "
                            "run them separately")

    def run_settings(self, tasks: Sequence[Task]) -> dict[str, Any]:
        """`longbench_e`: whether the run's tasks are LongBench-E variants (their result.json is per bucket)."""
        return {"longbench_e": any(_lb(task).is_e for task in tasks)}

    def run_name_suffix(self, tasks: Sequence[Task]) -> str:
        return "_e" if any(_lb(task).is_e for task in tasks) else ""

    # --- records -----------------------------------------------------------------------------------------------

    def needs_data(self, task: Task) -> bool:
        return _lb(task).source != "generated"

    def load_records(self, task: Task, source: DataSource, limit: int | None, *, tokenizer: Any,
                     budget: int | None, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        from longeval.benchmarks.longbench.data import load_records

        return load_records(source, _lb(task), limit, tokenizer=tokenizer, budget=budget)

    def open_data(self, spec: str) -> DataSource:
        """A folder, the official data.zip, or `hub` (the data.zip downloaded into the Hugging Face cache)."""
        from longeval.benchmarks.longbench.data import open_source

        return open_source(spec)

    # --- prediction lines --------------------------------------------------------------------------------------

    def prediction_line(self, task: Task, record: Mapping[str, Any], generation: Generation) -> dict[str, Any]:
        """The official pred.py line: pred, answers, all_classes, length, _id."""
        return {"pred": generation.text, "answers": record["answers"], "all_classes": record["all_classes"],
                "length": record["length"], "_id": record["_id"]}

    def pred_file_stem(self, task: Task) -> str:
        """LongBench-E variants write their base task's file name (official pred_e/<model>/<task>.jsonl)."""
        return _lb(task).base

    # --- scores ------------------------------------------------------------------------------------------------

    def read_predictions(self, task: Task, path: Path) -> list[dict[str, Any]]:
        from longeval.benchmarks.longbench.scoring import read_prediction_lines

        return read_prediction_lines(path, _lb(task), need_length=_lb(task).is_e)

    def record_scores(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[float]:
        """eval.py's per-sample scores; `all_classes` from the LAST line serves every sample (as eval.py)."""
        from longeval.benchmarks.longbench.scoring import sample_scores, to_predictions

        predictions = to_predictions(lines)
        return sample_scores(_lb(task), predictions, predictions[-1].all_classes)

    def task_result(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> Any:
        """A number (eval.scorer), or for a LongBench-E task {bucket: number} (eval.scorer_e)."""
        from longeval.benchmarks.longbench.scoring import bucket_scores, lengths_of, task_score, to_predictions

        scores = self.record_scores(task, lines)
        if _lb(task).is_e:
            return bucket_scores(scores, lengths_of(to_predictions(lines)))
        return task_score(scores)

    def record_groups(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
        """LongBench-E: the lines of each length bucket (by `length`, as eval.scorer_e); {} for a v1 task."""
        if not _lb(task).is_e:
            return {}
        from longeval.benchmarks.longbench.scoring import bucket_of

        groups: dict[str, list[int]] = {bucket: [] for bucket in BUCKETS}
        for index, line in enumerate(lines):
            groups[bucket_of(line["length"])].append(index)
        return groups

    def task_for_file(self, path: Path) -> Task | None:
        """`trec.jsonl` -> trec (a v1 file; scoring it as LongBench-E is the caller's choice, `score --e`)."""
        from longeval.tasks import all_tasks

        if not path.name.endswith(".jsonl"):
            return None
        task = all_tasks().get(path.name.removesuffix(".jsonl"))
        return task if task is not None and task.benchmark == self.name else None

    # --- report ------------------------------------------------------------------------------------------------

    def short_context_scores(self, run: RunView) -> dict[str, float]:
        """The 0-4k bucket of every LongBench-E task the run has (inputs inside a 4k original window)."""
        from longeval.tasks import all_tasks

        known = all_tasks()
        return {task: by[SHORT_BUCKET] for task, by in run.buckets.items()
                if SHORT_BUCKET in by and (task not in known or known[task].benchmark == self.name)}


def _lb(task: Task) -> LongBenchTask:
    if not isinstance(task, LongBenchTask):
        raise TypeError(f"task {task.name} is not a LongBench task")
    return task
