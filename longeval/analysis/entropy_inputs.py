"""Real text for the entropy analysis: a text file or LongBench contexts, cut into token windows.

All documents are joined (blank line between them) into one token stream; sample s at length L is the window
starting at s times the longest length, after the tokenizer's BOS when it adds one. Every length therefore reads
the same text from the same start (shorter lengths are prefixes of longer ones), so entropy against length compares
like with like.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from longeval.errors import UserError


def text_file_documents(path: str | Path) -> Iterator[str]:
    """The file as one document (UTF-8)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no such text file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read as UTF-8 text: {exc}".splitlines()[0], path=path) from None
    if not text.strip():
        raise UserError("the text file is empty", path=path)
    yield text


def longbench_documents(data: str, tasks: str) -> Iterator[str]:
    """The `context` of each record of each task, in task then file order (records read task by task)."""
    from longeval.benchmarks import benchmark_of
    from longeval.benchmarks.longbench.data import open_source
    from longeval.tasks import resolve_tasks

    source = open_source(data)
    for task in resolve_tasks(tasks):
        unit = benchmark_of(task)
        for record in unit.load_records(task, source, None, tokenizer=None,
                                        budget=None, options={}):
            if record["context"].strip():
                yield record["context"]


def token_windows(documents: Iterable[str], tokenizer: Any, lengths: list[int], samples: int,
                  describe: str) -> dict[tuple[int, int], list[int]]:
    """{(length, sample): token ids of exactly `length` tokens}, BOS first when the tokenizer adds one."""
    prefix = list(tokenizer("", add_special_tokens=True)["input_ids"])
    longest = max(lengths)
    needed = samples * (longest - len(prefix))
    stream: list[int] = []
    separator = list(tokenizer("\n\n", add_special_tokens=False)["input_ids"])
    for document in documents:
        if stream:
            stream.extend(separator)
        stream.extend(tokenizer(document, add_special_tokens=False)["input_ids"])
        if len(stream) >= needed:
            break
    if len(stream) < needed:
        raise UserError(f"{describe} holds {len(stream)} tokens; {samples} sample(s) of {longest} tokens need "
                        f"{needed} (give more text, fewer samples or shorter lengths)")
    windows: dict[tuple[int, int], list[int]] = {}
    for length in lengths:
        body = length - len(prefix)
        for sample in range(samples):
            start = sample * (longest - len(prefix))
            windows[(length, sample)] = prefix + stream[start:start + body]
    return windows
