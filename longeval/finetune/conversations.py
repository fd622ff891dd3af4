"""Conversations for supervised fine-tuning: read, check, render with the chat template, label responses only.

Accepted records (one per JSON-lines line, or the items of a JSON array):
  ShareGPT / FastChat  {"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]}
  chat messages        {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
Roles human/user, gpt/assistant/chatgpt/bard/bing, system. A source is a local .jsonl/.json file, a folder of them,
or a Hugging Face dataset id (its .jsonl/.json files, fetched into the hub cache).

Labels: the conversation is rendered once with the tokenizer's chat template; each assistant turn's text span is
found by rendering the conversation up to that turn with and without it (the template must render conversations
incrementally, as common templates do); tokens starting inside a span keep their id as label, all others get -100,
so the loss is on response tokens only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longeval.errors import UserError

IGNORE = -100
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
         "bard": "assistant", "bing": "assistant", "system": "system"}
DATA_SUFFIXES = (".jsonl", ".json")


@dataclass(frozen=True)
class Conversation:
    """One checked conversation and where it came from (for error messages)."""

    messages: list[dict[str, str]]
    origin: str  # "file:line" or "file:item N"


@dataclass(frozen=True)
class Example:
    """A tokenized training example: ids, labels (-100 outside responses), and its origin."""

    input_ids: list[int]
    labels: list[int]
    origin: str


def _check_turns(turns: Any, field: str, where: dict[str, Any]) -> list[dict[str, str]]:
    role_key, text_key = ("from", "value") if field == "conversations" else ("role", "content")
    if not isinstance(turns, list) or not turns:
        raise UserError("must be a non-empty list of turns", field=field, **where)
    messages = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise UserError("must be an object", field=f"{field}[{index}]", **where)
        role, text = turn.get(role_key), turn.get(text_key)
        if not isinstance(role, str) or role.lower() not in ROLES:
            raise UserError(f"unknown role {role!r} (known: {', '.join(ROLES)})", field=f"{field}[{index}].{role_key}",
                            **where)
        if not isinstance(text, str):
            raise UserError("must be a string", field=f"{field}[{index}].{text_key}", **where)
        messages.append({"role": ROLES[role.lower()], "content": text})
    if not any(m["role"] == "assistant" for m in messages):
        raise UserError("has no assistant turn (nothing to learn from)", field=field, **where)
    return messages


def check_record(record: Any, path: str, line: int) -> Conversation:
    """A Conversation from one record, or a UserError naming file, line and field."""
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(record, dict):
        raise UserError("a conversation must be a JSON object", **where)
    for field in ("conversations", "messages"):
        if field in record:
            return Conversation(_check_turns(record[field], field, where), f"{path}:{line}")
    raise UserError("no 'conversations' (ShareGPT) or 'messages' field", **where)


def _records(path: Path) -> list[tuple[int, Any]]:
    """(line number, record) pairs: JSON lines by line, a JSON array by item (numbered from 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read as UTF-8 text: {exc}".splitlines()[0], path=path) from None
    if path.suffix == ".json" or text.lstrip().startswith("["):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"not valid JSON ({exc.msg})", path=path, line=exc.lineno) from None
        items = doc if isinstance(doc, list) else [doc]
        return list(enumerate(items, start=1))
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UserError(f"not valid JSON ({exc.msg})", path=path, line=number) from None
    return records


def _hub_files(dataset_id: str) -> list[Path]:
    """The dataset's .jsonl/.json files from the Hugging Face hub cache (downloaded when online)."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id=dataset_id, repo_type="dataset", allow_patterns=["*.jsonl", "*.json"])
    except Exception as exc:  # noqa: BLE001 - offline, DNS, HTTP, auth: the same advice
        reason = type(exc).__name__
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            reason = "HF_HUB_OFFLINE is set and it is not in the cache"
        raise UserError(f"cannot fetch dataset {dataset_id} from the Hugging Face hub ({reason}); download its "
                        "files elsewhere and pass the .json/.jsonl file or folder") from None
    return _data_files(Path(folder), dataset_id)


def _data_files(folder: Path, describe: str) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES
                   and not p.name.startswith(".") and p.name not in ("dataset_infos.json", "dataset_info.json"))
    if not files:
        raise UserError(f"no .jsonl or .json files in {describe}", path=folder)
    return files


def load_conversations(source: str, limit: int | None = None) -> list[Conversation]:
    """The first `limit` conversations (all if None) of a file, a folder or a hub dataset id, each checked."""
    path = Path(source).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = _data_files(path, "this folder")
    elif source.count("/") == 1 and not source.startswith((".", "/")) and not path.suffix:
        files = _hub_files(source)
    else:
        raise UserError("no such file or folder (or a hub dataset id owner/name)", path=source)
    conversations: list[Conversation] = []
    for file in files:
        for line, record in _records(file):
            conversations.append(check_record(record, str(file), line))
            if limit is not None and len(conversations) >= limit:
                return conversations
    if not conversations:
        raise UserError("holds no conversations", path=source)
    return conversations


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def response_spans(tokenizer: Any, conversation: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (as the template renders them)."""
    messages = conversation.messages
    try:
        text = _render(tokenizer, messages, False)
        spans = []
        for index, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = _render(tokenizer, messages[:index], True) if index else ""
            through = _render(tokenizer, messages[:index + 1], False)
            if not (through.startswith(before) and text.startswith(through)):
                raise UserError("the tokenizer's chat template does not render this conversation incrementally, "
                                "so its response spans cannot be found", path=conversation.origin)
            spans.append((len(before), len(through)))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a template rejecting the conversation (e.g. roles not alternating)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"the chat template rejects this conversation: {reason}", path=conversation.origin) from None
    return text, spans


def encode(tokenizer: Any, conversation: Conversation, max_length: int) -> Example:
    """Token ids of the rendered conversation (first max_length), labels -100 outside the response spans."""
    text, spans = response_spans(tokenizer, conversation)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])[:max_length]
    labels = []
    for token, (start, _end) in zip(ids, encoded["offset_mapping"], strict=False):
        inside = any(left <= start < right for left, right in spans)
        labels.append(token if inside else IGNORE)
    return Example(ids, labels, conversation.origin)
