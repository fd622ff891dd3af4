"""The `ruler` benchmark unit: RULER's tasks as task files (tasks/ruler/), records generated per max length on
the model's tokenizer (and cached), the prompt sent as generated (chat wrapper inside, answer prefix at the end),
prediction lines RULER's evaluate reads (pred, outputs, index), RULER's scores, and the RULER report section.

With --max-length L a record's prompt plus its tokens to generate is at most L tokens (RULER's max_seq_length);
without it, L is the model's context window under the method.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longeval.benchmarks import register
from longeval.benchmarks.base import Benchmark, KeySpec, ReportSection, RunView
from longeval.errors import UserError
from longeval.tasks import Task

if TYPE_CHECKING:
    from longeval.backends.base import Generation
    from longeval.benchmarks.ruler.definitions import RulerTask
    from longeval.data import DataSource
    from longeval.prompts import Prompt

DEFAULT_THRESHOLD = 85.6  # RULER's effective-length threshold: Llama-2-7B-chat's average at 4k


@dataclass(frozen=True)
class RulerTaskFile(Task):
    """A tasks/ruler/*.yaml task: RULER's generator, template, answer prefix, metric and generator arguments."""

    ruler_name: str = ""
    generator: str = ""
    metric: str = ""
    template: str = ""
    answer_prefix: str = ""
    args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _records_sha256(records: Sequence[Mapping[str, Any]]) -> str:
    """sha256 of the records as one canonical JSON array (run.json's `records_sha256`)."""
    return hashlib.sha256(json.dumps(list(records), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def definition(task: Task) -> RulerTask:
    """The generator's view of a task file (checked: a bad one is a located UserError)."""
    from longeval.benchmarks.ruler.definitions import parse_task

    if not isinstance(task, RulerTaskFile):
        raise TypeError(f"task {task.name} is not a RULER task")
    return parse_task({"name": task.name, "ruler_name": task.ruler_name or task.name.removeprefix("ruler_"),
                       "generator": task.generator, "metric": task.metric, "max_new_tokens": task.max_new_tokens,
                       "template": task.template, "answer_prefix": task.answer_prefix, "args": task.args},
                      task.path or task.name)


@register
class Ruler(Benchmark):
    """RULER (NVIDIA/RULER): 13 synthetic tasks at a chosen length; effective length in the report."""

    name = "ruler"
    title = "RULER"
    own_length_chart = True  # its report section draws the RULER average against length
    task_class = RulerTaskFile
    task_keys: ClassVar[dict[str, KeySpec]] = {
        "ruler_name": KeySpec((str,), "RULER's task name"),
        "generator": KeySpec((str,), "a RULER generator (niah, variable_tracking, ...)", required=True),
        "metric": KeySpec((str,), "string_match_all or string_match_part", required=True),
        "template": KeySpec((str,), "RULER's task template", required=True),
        "answer_prefix": KeySpec((str,), "RULER's answer prefix", required=True),
        "args": KeySpec((dict,), "a mapping of generator arguments"),
    }
    options: ClassVar[dict[str, KeySpec]] = {
        "ruler_essays": KeySpec((str,), "RULER's essay haystack (niah_single_2/3, multikey_1, multivalue, "
                                "multiquery): a text file, or a folder whose *.txt files are read in name order"),
        "ruler_qa": KeySpec((str,), "RULER's QA data: squad=FILE (SQuAD v2 dev JSON, qa_1), hotpotqa=FILE "
                            "(HotpotQA dev distractor JSON, qa_2), comma-separated"),
        "ruler_seed": KeySpec((int,), "RULER's random seed (an integer; default 42, RULER's)"),
        "ruler_samples": KeySpec((int,), "RULER records per task and length (a positive integer; default 100, "
                                 "--limit takes fewer)"),
    }

    def __init__(self) -> None:
        self._identity: dict[str, dict[str, Any]] = {}

    # --- task files --------------------------------------------------------------------------------------------

    def check_task(self, doc: Mapping[str, Any], path: Path) -> None:
        from longeval.benchmarks.ruler.definitions import parse_task

        parse_task(doc, str(path))

    # --- records -----------------------------------------------------------------------------------------------

    def needs_data(self, task: Task) -> bool:
        return False

    def prompt_budget(self, task: Task, tokenizer: Any, wrapper: str, context_window: int,
                      max_length: int | None) -> tuple[int, int]:
        """RULER's max length: prompt (wrapper included) + tokens to generate; the window when not given."""
        return (max_length if max_length is not None else context_window), 0

    def load_records(self, task: Task, source: DataSource, limit: int | None, *, tokenizer: Any,
                     budget: int | None, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        from longeval.benchmarks.ruler.cache import RecordCache
        from longeval.benchmarks.ruler.generate import task_records, tokenizer_fingerprint
        from longeval.benchmarks.ruler.inputs import RulerInputs

        if budget is None:
            raise UserError(f"{task.name}: RULER records are generated to a max length; give --max-length")
        spec = definition(task)
        inputs = RulerInputs.from_options(options.get("ruler_essays"), options.get("ruler_qa"))
        seed = int(options.get("ruler_seed", 42))
        samples = int(options.get("ruler_samples", 100))
        if samples < 1:
            raise UserError(f"ruler_samples must be at least 1, got {samples}", field="--ruler-samples")
        count = min(limit, samples) if limit is not None else samples
        wrapper = str(options.get("chat_wrapper") or "none")
        records = task_records(spec, tokenizer, budget, seed=seed, num_samples=count, wrapper=wrapper,
                               inputs=inputs, cache=RecordCache())
        for record in records:
            record["chat_wrapper"] = wrapper
        digest = source.add_generated(f"{task.name}.generated", records, _records_sha256)
        self._identity[task.name] = {"generator": "ruler", "seed": seed, "max_length": budget,
                                     "tokenizer_sha256": tokenizer_fingerprint(tokenizer),
                                     **inputs.identity(spec), "records_sha256": digest}
        return records

    def data_identity(self, task: Task, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Seed, max length, tokenizer, haystack (kind, source, sha256) and the records' digest."""
        return dict(self._identity.get(task.name, {}))

    # --- prompts and generation --------------------------------------------------------------------------------

    def build_prompt(self, task: Task, record: Mapping[str, Any], tokenizer: Any, budget: int,
                     wrapper: str) -> Prompt:
        """The record's prompt as generated: input (chat wrapper inside) + answer prefix, never truncated."""
        from longeval.prompts import Prompt, encode_final

        made_for = record.get("chat_wrapper", wrapper)
        if made_for != wrapper:
            raise UserError(f"{task.name}: record {record['_id']} was generated for the {made_for} chat wrapper, "
                            f"the run uses {wrapper}")
        text = str(record["input"]) + str(record["answer_prefix"])
        return Prompt(id=str(record["_id"]), task=task.name, text=text,
                      token_ids=encode_final(text, tokenizer, wrapper), truncated=False)

    def prediction_line(self, task: Task, record: Mapping[str, Any], generation: Generation) -> dict[str, Any]:
        """RULER's prediction fields (index, pred, outputs, length) and the record's _id."""
        return {"index": record["index"], "pred": generation.text, "outputs": record["outputs"],
                "length": record["length"], "_id": record["_id"]}

    # --- scores ------------------------------------------------------------------------------------------------

    def read_predictions(self, task: Task, path: Path) -> list[dict[str, Any]]:
        from longeval.io import iter_jsonl

        lines = []
        for number, line in iter_jsonl(path):
            if not isinstance(line.get("pred"), str):
                raise UserError("missing or not a string", path=path, line=number, field="pred")
            outputs = line.get("outputs")
            if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) for o in outputs):
                raise UserError("must be a non-empty list of strings", path=path, line=number, field="outputs")
            lines.append(line)
        if not lines:
            raise UserError("no prediction lines", path=path)
        return lines

    def record_scores(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[float]:
        from longeval.benchmarks.ruler.metrics import record_score

        metric = definition(task).metric
        return [record_score(metric, str(line["pred"]), list(line["outputs"])) for line in lines]

    def record_answers(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
        return [tuple(str(o) for o in line["outputs"]) for line in lines]

    def is_binary(self, task: Task) -> bool:
        """One reference per record (niah with one needle asked about) or string_match_part: 0/1 scores."""
        spec = definition(task)
        if spec.metric == "string_match_part":
            return True
        return spec.generator == "niah" and spec.args["num_needle_v"] * spec.args["num_needle_q"] == 1

    def task_result(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> Any:
        """RULER's task score (evaluate.py): mean x 100, 2 decimals."""
        from longeval.benchmarks.ruler.metrics import task_score

        return task_score(definition(task).metric, [str(line["pred"]) for line in lines],
                          [list(line["outputs"]) for line in lines])

    # --- report ------------------------------------------------------------------------------------------------

    def report_sections(self, runs: Sequence[RunView], options: Mapping[str, Any] | None = None
                        ) -> list[ReportSection]:
        from longeval.benchmarks.ruler.report import ruler_sections

        threshold = (options or {}).get("threshold")
        return ruler_sections(runs, self.known_tasks(), DEFAULT_THRESHOLD if threshold is None else float(threshold))
