"""The LongBench v2 record: its fields, their allowed values, and one check that names the file, record and field.

The official data (`data.json` of the hub dataset THUDM/LongBench-v2, split train) holds 503 records with _id,
domain, sub_domain, difficulty (easy/hard), length (short/medium/long: a category, not a number), question,
choice_A..choice_D, answer (A-D) and context. Records prepared for RAG also carry `retrieved_context`: a list of
chunks {"c_idx": int, "content": str} in retrieval order (pred.py takes the first N, then sorts them by c_idx).
"""

from __future__ import annotations

from typing import Any

from longeval.errors import UserError

CHOICES = ("A", "B", "C", "D")
DIFFICULTIES = ("easy", "hard")
LENGTHS = ("short", "medium", "long")
TEXT_FIELDS = ("_id", "domain", "sub_domain", "question", "choice_A", "choice_B", "choice_C", "choice_D", "context")
# The fields pred.py copies from each dataset item, in its order (its prediction lines keep this order).
ITEM_FIELDS = ("_id", "domain", "sub_domain", "difficulty", "length", "question", "choice_A", "choice_B", "choice_C",
               "choice_D", "answer", "context")
_ENUMS: dict[str, tuple[str, ...]] = {"difficulty": DIFFICULTIES, "length": LENGTHS, "answer": CHOICES}


def check_item(item: Any, display: str, line: int | None, number: int, *, fields: tuple[str, ...] = ITEM_FIELDS,
               need_retrieved: bool = False) -> dict[str, Any]:
    """`item` if it is a valid record (the `fields` it must have), else a UserError naming the file, the line
    the record starts on, and the field; `number` (1-based record number) goes into the message."""
    where = f"record {number}"
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(item).__name__}", path=display, line=line)
    for name in fields:
        if name not in item:
            raise UserError(f"{where}: missing field", path=display, line=line, field=name)
        value = item[name]
        if name in _ENUMS:
            if value not in _ENUMS[name]:
                raise UserError(f"{where}: must be one of {', '.join(_ENUMS[name])}, got {value!r}", path=display,
                                line=line, field=name)
        elif name in TEXT_FIELDS and not isinstance(value, str):
            raise UserError(f"{where}: must be a string, got {type(value).__name__}", path=display, line=line,
                            field=name)
    if "_id" in fields and not item["_id"]:
        raise UserError(f"{where}: must not be empty", path=display, line=line, field="_id")
    if need_retrieved or "retrieved_context" in item:
        check_retrieved(item, display, line, number, required=need_retrieved)
    return item


def check_retrieved(item: dict[str, Any], display: str, line: int | None, number: int, *, required: bool) -> None:
    """`retrieved_context`: a list of {"c_idx": int, "content": str} (required by the RAG task)."""
    where = f"record {number}"
    if "retrieved_context" not in item:
        if required:
            raise UserError(f"{where}: missing field (the RAG task needs the retrieved chunks of each record)",
                            path=display, line=line, field="retrieved_context")
        return
    chunks = item["retrieved_context"]
    if not isinstance(chunks, list):
        raise UserError(f"{where}: must be a list of chunks, got {type(chunks).__name__}", path=display, line=line,
                        field="retrieved_context")
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, dict) or not isinstance(chunk.get("content"), str) \
                or not isinstance(chunk.get("c_idx"), int) or isinstance(chunk.get("c_idx"), bool):
            raise UserError(f"{where}: chunk {index} must be an object with an integer c_idx and a string content",
                            path=display, line=line, field="retrieved_context")
