"""LongBench v2 (THUDM, 2024-12) with the official protocol, as the `longbench_v2` benchmark unit.

Records, prompts, answers and results are exactly the official pred.py's and result.py's (the facts are in the
docstrings of records.py, prompting.py, answers.py and results.py). What the unit adds is the wiring:
- --data: the official data.json, a folder holding it, or `hub[@REVISION]` (source.py); records are streamed and
  kept without their context, which is read back from the file when the record's prompt is built.
- modes (task key `mode`): 0shot, cot (two passes: `max_new_tokens` of reasoning, then the answer prompt with
  $COT$ = that output, `answer_tokens`), nocontext, rag (top `rag_top_n` retrieved chunks).
- decoding: greedy (the run's decoding settings); pred.py samples at temperature 0.1.
- prediction lines: pred.py's fields; an empty output is kept, marked and scored wrong (results.py).
- result.json entry: {overall, easy, hard, short, medium, long, details: {counts, ...}}; headline: overall.
- `compensated` (set by `longeval score --compensated`): an unparsed answer counts 0.25 as in result.py.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longeval.backends.base import Generation
from longeval.benchmarks import register
from longeval.benchmarks.base import Benchmark, KeySpec, ReportSection, RunView
from longeval.benchmarks.longbench_v2.predictions import line_from_outputs, read_prediction_file
from longeval.benchmarks.longbench_v2.prompting import answer_prompt, first_prompt, rag_context
from longeval.benchmarks.longbench_v2.results import BUCKETS, buckets_of, empty_note, record_score, task_result
from longeval.benchmarks.longbench_v2.source import iter_items, light_record, open_v2_source, read_item
from longeval.errors import UserError
from longeval.tasks import Task

if TYPE_CHECKING:
    from longeval.backends.base import Backend
    from longeval.data import DataSource
    from longeval.prompts import Prompt

MODES = ("0shot", "cot", "nocontext", "rag")
HEAD = "_context_head"  # a light record's first 1000 characters of what $DOC$ came from (its prediction line's)


@dataclass(frozen=True)
class V2Task(Task):
    """A LongBench v2 task: its mode, the CoT answer template and budget, the RAG chunk count."""

    mode: str = "0shot"
    answer_prompt: str = ""  # cot: the answer pass's template (0shot_cot_ans.txt)
    answer_tokens: int = 128  # cot: the answer pass's max new tokens
    rag_top_n: int = 0  # rag: how many retrieved chunks


@dataclass
class CotGeneration(Generation):
    """A CoT record's final output: the answer pass's text (token_ids: both passes') and the reasoning."""

    reasoning: str = ""
    answered: bool = True  # False: the reasoning was empty, and pred.py runs no answer pass then


def _v2(task: Task) -> V2Task:
    assert isinstance(task, V2Task), task
    return task


@register
class LongBenchV2(Benchmark):
    """LongBench v2: 503 four-option questions over contexts of 8k to 2M words."""

    name = "longbench_v2"
    title = "LongBench v2"
    bucket_title = "LongBench v2: overall, by difficulty, by length (result.py's six numbers)"
    own_length_chart = True  # its length-bucket chart; a macro-vs-run-length chart means nothing here
    task_class = V2Task
    result_buckets: ClassVar[tuple[str, ...]] = BUCKETS
    result_details: ClassVar[tuple[str, ...]] = ("details",)
    task_keys: ClassVar[dict[str, KeySpec]] = {
        "prompt": KeySpec((str,), "a string", required=True),
        "mode": KeySpec((str,), f"one of {', '.join(MODES)}", required=True),
        "answer_prompt": KeySpec((str,), "a string"),
        "answer_tokens": KeySpec((int,), "a positive integer"),
        "rag_top_n": KeySpec((int,), "a positive integer"),
    }
    options: ClassVar[dict[str, KeySpec]] = {
        "rag": KeySpec((int,), "longbench_v2_rag: how many retrieved chunks (the top N, in c_idx order) make $DOC$ "
                       "(default: the task's rag_top_n)"),
    }
    #: `longeval score --compensated`: an unparsed answer scores 0.25 (result.py's switch)
    compensated = False

    def __init__(self) -> None:
        # (budget, wrapper) each task's prompts were built with: the CoT answer pass is built the same way.
        self._built_with: dict[str, tuple[int, str]] = {}
        # task -> the N of top-N retrieved chunks its records were loaded with (--rag N, else the task's rag_top_n)
        self._rag_top_n: dict[str, int] = {}

    # --- task files --------------------------------------------------------------------------------------------

    def check_task(self, doc: Mapping[str, Any], path: Path) -> None:
        mode = doc["mode"]
        if mode not in MODES:
            raise UserError(f"unknown mode '{mode}' (known: {', '.join(MODES)})", path=path, field="mode")
        if mode == "cot" and not doc.get("answer_prompt"):
            raise UserError("missing field (a CoT task needs its answer pass's template)", path=path,
                            field="answer_prompt")
        if mode == "rag" and doc.get("rag_top_n", 0) < 1:
            raise UserError("a RAG task needs rag_top_n >= 1", path=path, field="rag_top_n")
        for key in ("answer_tokens", "rag_top_n"):
            if key in doc and doc[key] < 1:
                raise UserError("must be a positive integer", path=path, field=key)

    # --- records -----------------------------------------------------------------------------------------------

    def open_data(self, spec: str) -> DataSource:
        from longeval.data import DataSource

        source = open_v2_source(spec)
        return DataSource("longbench_v2", source.path, describe=source.describe)

    def load_records(self, task: Task, source: DataSource, limit: int | None, *, tokenizer: Any,
                     budget: int | None, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The records without their contexts (read back per prompt), each with the head of what its $DOC$ is."""
        from longeval.benchmarks.longbench_v2.predictions import CONTEXT_KEPT
        from longeval.benchmarks.longbench_v2.source import V2Source

        v2 = _v2(task)
        top_n = options.get("rag", v2.rag_top_n)
        if v2.mode == "rag" and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
            raise UserError(f"--rag must be a positive number of chunks, got {top_n!r}")
        self._rag_top_n[task.name] = top_n
        reader = V2Source(Path(source.location), describe=source.describe)
        records = []
        for _, item in iter_items(reader, need_retrieved=v2.mode == "rag", limit=limit):
            head = rag_context(item, top_n) if v2.mode == "rag" else item["context"]
            records.append(light_record(item) | {HEAD: head[:CONTEXT_KEPT]})
        if not records:
            raise UserError("holds no records", path=source.location)
        source.file_sha256["data.json"] = reader.sha256 or ""
        return records

    # --- prompts and generation --------------------------------------------------------------------------------

    def build_prompt(self, task: Task, record: Mapping[str, Any], tokenizer: Any, budget: int,
                     wrapper: str) -> Prompt:
        v2 = _v2(task)
        self._built_with[task.name] = (budget, wrapper)
        item = read_item(dict(record)) if v2.mode != "nocontext" else dict(record)
        top_n = self._rag_top_n.get(task.name, v2.rag_top_n)
        return first_prompt(task.name, v2.prompt, item, v2.mode, tokenizer, budget, wrapper, top_n)

    def generate(self, task: Task, backend: Backend, prompts: Sequence[Prompt],
                 records: Sequence[Mapping[str, Any]], tokenizer: Any) -> list[Generation]:
        """0-shot, no-context, RAG: one pass. CoT: the reasoning pass (max_new_tokens), then for each record whose
        reasoning is not empty the answer prompt with $COT$ = the stripped reasoning (answer_tokens)."""
        params = self.generation_params(task, tokenizer)
        first = list(backend.generate([p.token_ids for p in prompts], params))
        v2 = _v2(task)
        if v2.mode != "cot":
            return first
        budget, wrapper = self._built_with[task.name]
        answering = [i for i, output in enumerate(first) if output.text != ""]
        # the official answer template has no $DOC$: a record's context is read back only for one that does
        needs_context = "$DOC$" in v2.answer_prompt
        second_prompts = [answer_prompt(task.name, v2.answer_prompt,
                                        read_item(dict(records[i])) if needs_context else dict(records[i]),
                                        first[i].text.strip(), tokenizer, budget, wrapper) for i in answering]
        answer_params = dataclasses.replace(params, max_new_tokens=v2.answer_tokens)
        second = dict(zip(answering, backend.generate([p.token_ids for p in second_prompts], answer_params),
                          strict=True)) if answering else {}
        out: list[Generation] = []
        for i, reasoning in enumerate(first):
            answer = second.get(i)
            out.append(CotGeneration(token_ids=list(reasoning.token_ids) + (answer.token_ids if answer else []),
                                     text=answer.text if answer else "", reasoning=reasoning.text,
                                     answered=answer is not None))
        return out

    def prediction_line(self, task: Task, record: Mapping[str, Any], generation: Generation) -> dict[str, Any]:
        """pred.py's line (the item's fields, context[:1000], [response_cot], response, pred, judge)."""
        item = dict(record)
        if isinstance(generation, CotGeneration):
            outputs = [generation.reasoning, generation.text] if generation.answered else [generation.reasoning]
            return line_from_outputs(item, item[HEAD], outputs, cot=True)
        return line_from_outputs(item, item[HEAD], [generation.text], cot=False)

    # --- scores ------------------------------------------------------------------------------------------------

    def configure_scoring(self, **options: Any) -> None:
        self.compensated = bool(options.get("compensated", False))

    def read_predictions(self, task: Task, path: Path) -> list[dict[str, Any]]:
        read = read_prediction_file(path)
        if read.disagreements:
            print(f"longeval: {path}: {read.disagreements} line(s) hold a pred/judge that their response does not "
                  "give; scored from the response", file=sys.stderr)
        return read.lines

    def record_scores(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[float]:
        return [float(record_score(line, self.compensated)) for line in lines]

    def is_binary(self, task: Task) -> bool:
        return not self.compensated

    def record_answers(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
        return [(str(line["answer"]),) for line in lines]

    def record_groups(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {bucket: [] for bucket in BUCKETS}
        for index, line in enumerate(lines):
            groups["overall"].append(index)
            for bucket in buckets_of(line):
                groups[bucket].append(index)
        return groups

    def task_result(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> Any:
        """result.py's six numbers; the rest (counts, unparsed, empty outputs and the official skip numbers)
        under `details`. Empty outputs are also said on stderr."""
        result = task_result(list(lines), compensated=self.compensated)
        note = empty_note(task.name, result)
        if note:
            print(f"longeval: {note}", file=sys.stderr)
        return {**{bucket: result[bucket] for bucket in BUCKETS},
                "details": {key: value for key, value in result.items() if key not in BUCKETS}}

    def headline(self, task: Task, entry: Any) -> float | None:
        value = entry.get("overall") if isinstance(entry, dict) else None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def task_for_file(self, path: Path) -> Task | None:
        """A run folder's `longbench_v2*.jsonl`, or an official pred.py output (`<model>.jsonl`, `<model>_cot`,
        `<model>_no_context`, `<model>_rag_N`), recognised by its first line's fields (question, choice_A..D,
        answer, response)."""
        found = super().task_for_file(path)
        if found is not None or not path.name.endswith(".jsonl") or not _looks_like_v2(path):
            return found
        stem = path.name.removesuffix(".jsonl")
        known = self.known_tasks()
        for suffix, task_name in (("_cot", "longbench_v2_cot"), ("_no_context", "longbench_v2_nocontext")):
            if stem.endswith(suffix) and task_name in known:
                return known[task_name]
        if "_rag_" in stem and "longbench_v2_rag" in known:
            return known["longbench_v2_rag"]
        return known.get("longbench_v2")

    # --- report ------------------------------------------------------------------------------------------------

    def report_sections(self, runs: Sequence[RunView], options: Mapping[str, Any] | None = None
                        ) -> list[ReportSection]:
        from longeval.benchmarks.longbench_v2.report import length_bucket_plot

        png = length_bucket_plot(runs, [name for name in self.known_tasks()])
        return [ReportSection("LongBench v2 accuracy by length", "longbench_v2_length.png", png)] if png else []


def _looks_like_v2(path: Path) -> bool:
    """Whether a file's first line is a LongBench v2 prediction (pred.py's fields), without reading the rest."""
    import json

    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline()
        line = json.loads(first)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(line, dict) and all(key in line for key in ("question", "choice_A", "answer", "response"))
