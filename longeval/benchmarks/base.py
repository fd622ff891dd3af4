"""The benchmark-unit protocol: one benchmark family (LongBench, passkey, ...) as one unit the core asks.

A family owns everything that differs between benchmarks: which keys its task YAML takes, where its records come
from and how they are checked, how a prompt is built and generated, what a prediction line holds, how a file of
prediction lines becomes per-record scores and the task's entry in result.json, and what the report draws for it.
The core (runs/, report/, backends/, the scoring entry point, the CLI) names no family: it asks the task's unit,
`longeval.benchmarks.benchmark_of(task)`.

A unit is a subclass of `Benchmark` registered with `longeval.benchmarks.register` (built-ins: one subpackage of
longeval/benchmarks/ each, imported by the registry; out-of-tree: an entry point in the group
`longeval.benchmarks` whose value is `module:Class`). Task YAML says `benchmark: <name>`; its common keys are
validated by longeval.tasks (COMMON_KEYS), the family's own keys by the same code from `task_keys`, then
`check_task` does what a type check cannot. The task object is an instance of the unit's `task_class` (a frozen
dataclass subclassing longeval.tasks.Task that adds the family's keys as fields).

Contract of a run folder: `pred/<pred_file_stem(task)>.jsonl` holds the lines `prediction_line` made (each with
"_id" and "pred"), `pred/result.json` maps each file stem to `task_result(task, lines)`, run.json records
`data_identity` and `family_settings` so a resume with other data or settings is refused.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from longeval.backends.base import Backend, Generation, GenerationParams
    from longeval.data import DataSource
    from longeval.prompts import Prompt
    from longeval.tasks import Task


@dataclass(frozen=True)
class KeySpec:
    """One YAML key a family's tasks accept: accepted types, how the error message describes it, required."""

    types: tuple[type, ...]
    description: str
    required: bool = False


class RunView(Protocol):
    """What a report hook may read of one run (longeval.report.collect.RunResult satisfies it)."""

    name: str
    model: str | None
    method: str | None
    max_length: int | None
    path: str | None
    pred_dir: str | None
    scores: dict[str, float]
    buckets: dict[str, dict[str, float]]


@dataclass(frozen=True)
class ReportSection:
    """A figure a family adds to `longeval report --plot`: written as `file_name` beside the leaderboard."""

    title: str
    file_name: str
    png: bytes
    text: str = ""  # markdown shown in the report (a table, a summary), with or without --plot


class Benchmark:
    """One benchmark family as a unit: its task keys, records, prompts, generation, prediction lines, scores,
    result.json entries and report sections. Subclass it, set `name` (and `task_class`/`task_keys`), override
    what differs, register the class. Defaults below are the plain behaviour a new family usually wants."""

    #: family name; task YAML says `benchmark: <name>`
    name: ClassVar[str] = ""
    #: the dataclass its tasks are (a subclass of longeval.tasks.Task adding the family's keys as fields, each
    #: with a default); None: longeval.tasks.Task itself
    task_class: ClassVar[type | None] = None
    #: extra YAML keys its tasks accept (or common keys it makes required), validated by longeval.tasks
    task_keys: ClassVar[dict[str, KeySpec]] = {}
    #: options a run may give this family on the command line (`--option KEY=VALUE`, e.g. a data path or a seed);
    #: they reach `load_records` and, when given, run.json's settings (a resume with other values is refused)
    options: ClassVar[dict[str, KeySpec]] = {}
    #: keys a task written as `variant_of: <base>` does not inherit from its base task
    not_inherited: ClassVar[tuple[str, ...]] = ()
    #: a task file without `benchmark:` belongs to the unit that sets this (task files older than families)
    default_for_untagged: ClassVar[bool] = False
    #: what a table or chart of this family's tasks is headed with (default: the name)
    title: ClassVar[str] = ""
    #: its report sections draw the score against length, so runs of this family alone get no macro-vs-length
    #: chart
    own_length_chart: ClassVar[bool] = False
    #: what `report --short-context` calls this family's short-context scores (None: it has none)
    short_context_label: ClassVar[str | None] = None
    #: the heading of the report's bucket table for this family's tasks
    bucket_title: ClassVar[str | None] = None
    #: the bucket names a dict-valued result.json entry of this family may hold (report/collect checks them)
    result_buckets: ClassVar[tuple[str, ...]] = ()
    #: keys of a dict-valued result.json entry that describe it rather than score it (counts, flags): the report
    #: and the score table skip them
    result_details: ClassVar[tuple[str, ...]] = ()

    # --- task files ----------------------------------------------------------------------------------------------

    def check_task(self, doc: Mapping[str, Any], path: Path) -> None:
        """Checks beyond key types on a complete task document (after `variant_of` inheritance); raise a
        UserError naming `path` and the field. Default: none."""

    # --- runs ------------------------------------------------------------------------------------------------

    def check_run(self, tasks: Sequence[Task]) -> None:
        """Refuse (UserError) a set of this family's tasks that cannot share one run folder. Default: any set."""

    def run_settings(self, tasks: Sequence[Task]) -> dict[str, Any]:
        """Keys this family adds to run.json's `settings` for these tasks (part of the fingerprint: a resume with
        other values is refused). Two families of one run must not give one key different values."""
        return {}

    def run_name_suffix(self, tasks: Sequence[Task]) -> str:
        """What a default run folder name ends with for these tasks (e.g. a variant's marker). Default: ""."""
        return ""

    # --- records ---------------------------------------------------------------------------------------------

    def needs_data(self, task: Task) -> bool:
        """Whether the task reads --data. False: records are generated, --data is not opened."""
        return True

    def open_data(self, spec: str) -> DataSource:
        """--data opened for this family's tasks (what a folder, file or `hub` means is the family's business):
        a `longeval.data.DataSource` (`open_path` makes one of a folder or zip file). Needed when `needs_data`."""
        raise NotImplementedError(f"benchmark {self.name} reads no --data (its needs_data should say False)")

    def load_records(self, task: Task, source: DataSource, limit: int | None, *, tokenizer: Any,
                     budget: int | None, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The task's records in order (the first `limit` only), each a dict with a unique str "_id", checked
        with located UserErrors. `source` is the opened --data (a placeholder of kind "generated" when no task
        of the run `needs_data`); every file read, or a digest of generated records, goes into
        `source.file_sha256` (run.json's data checksum: a resume with other data is refused). `budget` is the
        task's prompt budget in tokens (a generator fills it; None where the caller has none); `options` are
        the family's options from the command line (`options`: --option KEY=VALUE or --key-name VALUE) plus
        "chat_wrapper", the wrapper the run's prompts get (hf | llama2 | none), for records built around it."""
        raise NotImplementedError(f"benchmark {self.name} does not load records")

    def data_identity(self, task: Task, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Extra facts about the task's data for run.json's data.identity[task] (seed, revision, the checksum of
        an input file); {} when the file checksums say all. Called right after `load_records`."""
        return {}

    # --- prompts and generation ------------------------------------------------------------------------------

    def prompt_budget(self, task: Task, tokenizer: Any, wrapper: str, context_window: int,
                      max_length: int | None) -> tuple[int, int]:
        """(prompt budget in tokens, tokens the chat wrapper adds) of one task: longeval.prompts.prompt_budget."""
        from longeval.prompts import prompt_budget

        return prompt_budget(task, tokenizer, wrapper, context_window, max_length)

    def build_prompt(self, task: Task, record: Mapping[str, Any], tokenizer: Any, budget: int,
                     wrapper: str) -> Prompt:
        """The final prompt of one record (text and the token ids the engine gets), at most `budget` tokens
        before the chat wrapper. Default: LongBench's procedure (fill `task.prompt`, middle truncation, wrapper)."""
        from longeval.prompts import build_prompt

        return build_prompt(task, dict(record), tokenizer, budget, wrapper)

    def generation_params(self, task: Task, tokenizer: Any) -> GenerationParams:
        """Greedy decoding settings of the task: its max_new_tokens, stop strings and min_new_tokens."""
        from longeval.prompts import generation_params

        return generation_params(task, tokenizer)

    def generate(self, task: Task, backend: Backend, prompts: Sequence[Prompt],
                 records: Sequence[Mapping[str, Any]], tokenizer: Any) -> list[Generation]:
        """One Generation per prompt, in order. Default: one backend.generate call. A family may run several
        passes (e.g. a reasoning pass, then an answer prompt built from it) and return the final generations."""
        return list(backend.generate([p.token_ids for p in prompts], self.generation_params(task, tokenizer)))

    def prediction_line(self, task: Task, record: Mapping[str, Any], generation: Generation) -> dict[str, Any]:
        """The line written to pred/<stem>.jsonl for one record: must hold "_id" and "pred"."""
        return {"pred": generation.text, "_id": record["_id"]}

    def pred_file_stem(self, task: Task) -> str:
        """The prediction file's name without .jsonl, and the task's key in result.json. Default: the task name."""
        return task.name

    # --- scores ----------------------------------------------------------------------------------------------

    def configure_scoring(self, **options: Any) -> None:
        """Scoring switches from the command line (e.g. `score --compensated`), given to every family; a family
        takes those it knows and ignores the rest. Default: none known."""

    def read_predictions(self, task: Task, path: Path) -> list[dict[str, Any]]:
        """The validated lines of one prediction file, in file order (a bad line: UserError naming the file,
        line and field; an empty file is an error)."""
        raise NotImplementedError(f"benchmark {self.name} does not read predictions")

    def record_scores(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[float]:
        """Per-record score in [0, 1], in line order (what paired statistics compare record by record)."""
        raise NotImplementedError(f"benchmark {self.name} does not score records")

    def record_ids(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """Each line's "_id" (None where a line has none: official prediction files carry no _id)."""
        return [line["_id"] if isinstance(line.get("_id"), str) else None for line in lines]

    def record_answers(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
        """Each line's gold answer(s): two runs' files without `_id`s pair by position only where these agree."""
        out = []
        for line in lines:
            gold = line.get("answers", line.get("answer"))
            out.append(tuple(str(g) for g in gold) if isinstance(gold, list) else (str(gold),))
        return out

    def record_groups(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
        """For a task whose result.json entry is a dict of buckets: bucket -> the indices of the lines it averages
        (groups may overlap), in `result_buckets` order. {} for a task whose entry is one number."""
        return {}

    def is_binary(self, task: Task) -> bool:
        """Whether every per-record score is 0 or 1 (exact match: McNemar's test applies)."""
        return False

    def task_result(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> Any:
        """The task's entry in result.json (the official format: a number in points, or a dict of buckets)."""
        scores = self.record_scores(task, lines)
        return round(100 * math.fsum(scores) / len(scores), 2)

    def headline(self, task: Task, entry: Any) -> float | None:
        """The one number (0-100) of a result.json entry a leaderboard or gate uses; None when it has none
        (a dict of buckets is reported per bucket)."""
        if isinstance(entry, bool) or not isinstance(entry, int | float) or math.isnan(entry):
            return None
        return float(entry)

    def task_for_file(self, path: Path) -> Task | None:
        """The task of this family a prediction file belongs to (by its name, `<stem>.jsonl`), or None."""
        if not path.name.endswith(".jsonl"):
            return None
        stem = path.name.removesuffix(".jsonl")
        mine = self.known_tasks()
        task = mine.get(stem)
        if task is not None and self.pred_file_stem(task) == stem:
            return task
        return next((t for t in mine.values() if self.pred_file_stem(t) == stem), None)

    def known_tasks(self) -> dict[str, Task]:
        """This family's tasks in the task registry, by name. (longeval.tasks sits above the units it validates,
        so it is imported by name when called, not by this module.)"""
        registry = importlib.import_module("longeval.tasks")
        return {name: task for name, task in registry.all_tasks().items() if task.benchmark == self.name}

    # --- report ----------------------------------------------------------------------------------------------

    def report_sections(self, runs: Sequence[RunView], options: Mapping[str, Any] | None = None
                        ) -> list[ReportSection]:
        """Sections for `longeval report`: each one's text goes into the report, its figure is written with
        --plot (e.g. a length curve); [] when the runs give nothing to show. `options`: the report's settings
        a family may use (`threshold`: report --threshold, e.g. RULER's effective-length threshold)."""
        return []

    def short_context_scores(self, run: RunView) -> dict[str, float]:
        """The run's scores that measure short-context ability (column -> points), for `report --short-context`."""
        return {}
