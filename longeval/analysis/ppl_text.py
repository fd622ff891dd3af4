"""The documents `longeval ppl` reads, and the token spans it scores at each length.

--text is a text file (one document), a .jsonl file (one document a line: its `text`, else its `context` field),
a folder (its .txt and .jsonl files, sub-folders included, in path order: an unpacked LongBench `data/` works as
is), or a LongBench data source (a data.zip or 'hub': the `context` of every record, file by file; with --tasks,
only those tasks' records, as `run` reads them). The checksum covers every document read, in order, so a resumed
sweep can tell that the text changed.

Each document is tokenized with the tokenizer's default special tokens (a Llama tokenizer adds its BOS). For a
length L the first --samples documents with at least L tokens are taken, in order; the shorter ones met before
them are skipped and counted.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.errors import UserError

TEXT_FIELDS = ("text", "context")  # a jsonl line's document, first present wins (--field names one instead)
LONGBENCH_WORDS = ("hub", "hf", "THUDM/LongBench", "zai-org/LongBench")


@dataclass(frozen=True)
class Documents:
    """The documents of --text, in order, with what identifies them."""

    describe: str
    texts: list[str]
    sha256: str


def read_documents(spec: str, text_field: str | None = None, tasks: str | None = None) -> Documents:
    """All documents --text names (UserError for a missing, empty or malformed source)."""
    if tasks:
        from longeval.analysis.entropy_inputs import longbench_documents

        texts = list(longbench_documents(spec, tasks))
        describe = f"the contexts of {tasks} in {spec}"
    elif spec in LONGBENCH_WORDS or Path(spec).suffix.lower() == ".zip":
        texts, describe = _zip_documents(spec), f"the contexts of the records in {spec}"
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            texts, describe = _folder_documents(path, text_field), f"the .txt/.jsonl files under {path}"
        elif path.is_file():
            texts, describe = list(_file_documents(path, text_field)), f"{path}"
        else:
            raise UserError("no such file or folder", path=path)
    if not texts:
        raise UserError(f"{describe} hold no documents")
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return Documents(describe=describe, texts=texts, sha256=digest.hexdigest())


def _file_documents(path: Path, text_field: str | None) -> Iterator[str]:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise UserError(f"cannot read ({exc.strerror or exc})", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    if not text.strip():
        raise UserError("the file is empty", path=path)
    if path.suffix.lower() == ".jsonl":
        yield from _jsonl_documents(text, str(path), text_field)
    else:
        yield text


def _jsonl_documents(text: str, display: str, text_field: str | None) -> Iterator[str]:
    from longeval.io import parse_jsonl

    wanted = (text_field,) if text_field else TEXT_FIELDS
    for number, record in parse_jsonl(text.split("\n"), display):
        name = next((n for n in wanted if n in record), None)
        if name is None:
            raise UserError(f"no {' or '.join(repr(n) for n in wanted)} field (--field names the document's field)",
                            path=display, line=number, field=wanted[0])
        if not isinstance(record[name], str):
            raise UserError(f"must be a string, got {type(record[name]).__name__}", path=display, line=number,
                            field=name)
        yield record[name]


def _folder_documents(folder: Path, text_field: str | None) -> list[str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".jsonl"))
    if not files:
        raise UserError("holds no .txt or .jsonl files", path=folder)
    return [text for path in files for text in _file_documents(path, text_field)]


def _zip_documents(spec: str) -> list[str]:
    """The `context` of every record of every .jsonl member of a LongBench data.zip (or the hub's), by name."""
    from longeval.benchmarks.longbench.data import open_source

    source = open_source(spec)
    try:
        with zipfile.ZipFile(source.location) as archive:
            members = sorted(n for n in archive.namelist() if n.endswith(".jsonl"))
            if not members:
                raise UserError("holds no .jsonl files", path=source.location)
            texts: list[str] = []
            for name in members:
                try:
                    decoded = archive.read(name).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                    path=f"{source.location}:{name}") from None
                texts.extend(_jsonl_documents(decoded, f"{source.location}:{name}", "context"))
            return texts
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"not a readable zip file ({exc})", path=source.location) from None


@dataclass
class Selection:
    """The documents one length scores: each document's full token ids (the strided variant reads past L)."""

    length: int
    documents: list[list[int]] = field(default_factory=list)
    skipped: int = 0  # documents shorter than the length, met before the last one taken
    longest: int = 0  # the longest document tokenized (all of them when this length found too few)


def select_documents(texts: Sequence[str], tokenizer: Any, lengths: Sequence[int], samples: int,
                     progress: bool = False) -> dict[int, Selection]:
    """{length: the first `samples` documents with at least `length` tokens}; documents are tokenized only until
    every length has its samples."""
    selections = {length: Selection(length) for length in lengths}
    from tqdm import tqdm

    for text in tqdm(texts, desc="tokenize", unit="doc", disable=not progress, leave=False, dynamic_ncols=True):
        open_lengths = [s for s in selections.values() if len(s.documents) < samples]
        if not open_lengths:
            break
        ids = list(tokenizer(text)["input_ids"])
        for selection in open_lengths:
            selection.longest = max(selection.longest, len(ids))
            if len(ids) >= selection.length:
                selection.documents.append(ids)
            else:
                selection.skipped += 1
    return selections


def check_selections(selections: dict[int, Selection], describe: str) -> None:
    """Refuse lengths no document reaches (one line, before any model is loaded)."""
    empty = [length for length, s in selections.items() if not s.documents]
    if empty:
        longest = selections[min(empty)].longest  # every document was tokenized for this length
        raise UserError(f"no document of {describe} has {min(empty)} tokens or more (the longest has {longest}): "
                        f"give longer text or drop {','.join(str(x) for x in empty)} from --lengths")


def windows(tokens: int, length: int, stride: int | None) -> list[tuple[int, int, int]]:
    """The spans scored in a document of `tokens` tokens: (start, end, first target), scoring tokens
    [first, end) from the window [start, end).

    No stride: the first `length` tokens, every one but the first predicted. With a stride S: windows of `length`
    tokens starting every S tokens (the last one cut at the document's end), each scoring only the tokens no
    earlier window scored, so every token after the first is predicted once, from at least length - S tokens of
    context once the first window is past.
    """
    if stride is None:
        return [(0, length, 1)]
    spans: list[tuple[int, int, int]] = []
    scored_to = 1
    for start in range(0, tokens, stride):
        end = min(start + length, tokens)
        spans.append((start, end, scored_to))
        scored_to = end
        if end == tokens:
            break
    return spans
