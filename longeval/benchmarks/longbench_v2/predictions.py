"""LongBench v2 prediction lines: written as pred.py writes them, read back from longeval's runs or pred.py's files.

pred.py writes one JSON line per answered item: the item's fields (_id, domain, sub_domain, difficulty, length,
question, choice_A..D, answer), `context` cut to its first 1000 characters, `response_cot` (CoT only: the stripped
reasoning), `response` (the stripped answer output), `pred` (extract_answer) and `judge` (pred == answer).
result.py reads such a file (or a JSON array) and uses judge, pred, difficulty and length. Reading, longeval
recomputes pred and judge from response and answer: a line without them scores the same, and a line whose stored
pred or judge disagrees with its response is counted (the recomputed value is used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.benchmarks.longbench_v2.answers import extract_answer, judge
from longeval.benchmarks.longbench_v2.records import ITEM_FIELDS, check_item
from longeval.benchmarks.longbench_v2.results import EMPTY
from longeval.benchmarks.longbench_v2.stream import iter_json_values
from longeval.errors import UserError

CONTEXT_KEPT = 1000  # pred.py: item['context'] = context[:1000]
# The fields a prediction line must have for scoring (pred/judge are recomputed; context is not needed).
SCORED_FIELDS = ("_id", "difficulty", "length", "answer")


def prediction_line(item: dict[str, Any], context: str, response: str, *, reasoning: str | None = None,
                    empty: bool = False) -> dict[str, Any]:
    """One line as pred.py writes it; `context` is what the prompt's $DOC$ came from (the RAG chunks for RAG).
    An empty model output (pred.py writes no line) is kept with `empty_output: true` and no answer."""
    line = {name: item[name] for name in ITEM_FIELDS if name != "context"}
    line["context"] = context[:CONTEXT_KEPT]
    if reasoning is not None:
        line["response_cot"] = reasoning
    line["response"] = response
    line["pred"] = None if empty else extract_answer(response)
    line["judge"] = judge(line["pred"], item["answer"])
    if empty:
        line[EMPTY] = True
    return line


def line_from_outputs(item: dict[str, Any], context: str, outputs: list[str], *, cot: bool) -> dict[str, Any]:
    """The line for a record from its raw model outputs: [answer], or for CoT [reasoning, answer] (or [reasoning]
    alone when it was empty and no answer pass ran). pred.py stops at the first output that is exactly '' (a blank
    one is stripped and written); longeval writes that record's line marked `empty_output`."""
    if not cot:
        return prediction_line(item, context, outputs[0].strip(), empty=outputs[0] == "")
    empty = outputs[0] == "" or len(outputs) < 2 or outputs[1] == ""
    answer = "" if empty else outputs[1].strip()
    return prediction_line(item, context, answer, reasoning=outputs[0].strip(), empty=empty)


@dataclass
class PredictionFile:
    """The checked lines of one prediction file and how many stored pred/judge values disagreed with response."""

    path: Path
    lines: list[dict[str, Any]]
    disagreements: int


def read_prediction_file(path: Path) -> PredictionFile:
    """Lines of a pred.py output file (JSON lines or a JSON array), each checked and with pred/judge recomputed;
    a bad line is a UserError naming the file, line and field. Duplicate _ids are errors (pred.py's resume skips
    ids it has written, so a file it wrote holds each id once)."""
    display = str(path)
    lines: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    disagreements = 0
    for number, located in enumerate(iter_json_values(path, display), start=1):
        line = check_item(located.value, display, located.line, number, fields=SCORED_FIELDS)
        if not isinstance(line.get("response"), str):
            got = "missing" if "response" not in line else f"a {type(line['response']).__name__}"
            raise UserError(f"record {number}: must be the model's response as a string, got {got}", path=display,
                            line=located.line, field="response")
        if line["_id"] in seen:
            raise UserError(f"record {number}: duplicate _id (also record {seen[line['_id']]})", path=display,
                            line=located.line, field="_id")
        seen[line["_id"]] = number
        line.pop("context", None)  # 1000 characters per line nobody scores
        pred = None if line.get(EMPTY) else extract_answer(line["response"])
        verdict = judge(pred, line["answer"])
        if ("pred" in line and line["pred"] != pred) or ("judge" in line and line["judge"] != verdict):
            disagreements += 1
        line["pred"], line["judge"] = pred, verdict
        lines.append(line)
    if not lines:
        raise UserError("holds no prediction lines", path=display)
    return PredictionFile(path, lines, disagreements)
