"""Read a JSON array (the official data.json) or JSON lines one object at a time, with where each one lies.

LongBench v2 contexts run to millions of characters and data.json is one JSON array of all 503 records, so
`json.load` would hold every context at once. This reader holds about one record: it decodes the file in growing
chunks and parses one object at a time with `raw_decode`. Each object comes with its byte span in the file (so a
record's context can be read again later without keeping it) and the line it starts on (for located errors).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from longeval.errors import UserError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Located:
    """One JSON value of a file: the value, its byte span [start, end) and the line it starts on (1-based)."""

    value: Any
    start: int
    end: int
    line: int


class _Buffer:
    """Decoded text not yet consumed, with the byte offset and line number of its first character."""

    def __init__(self, handle: BinaryIO, display: str) -> None:
        self.handle = handle
        self.display = display
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.byte = 0
        self.line = 1
        self.eof = False

    def more(self, at_least: int) -> bool:
        """Append at least `at_least` more bytes' worth of text (or all that is left); False at end of file."""
        if self.eof:
            return False
        raw = self.handle.read(max(at_least, CHUNK))
        try:
            self.text += self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise UserError(f"not UTF-8 text ({exc.reason})", path=self.display) from None
        self.eof = not raw
        return True

    def skip_space(self) -> str:
        """The next non-blank character ('' at end of file), blanks before it consumed."""
        while True:
            stripped = self.text.lstrip(" \t\r\n")
            if stripped:
                self.consume(len(self.text) - len(stripped))
                return stripped[0]
            self.consume(len(self.text))
            if not self.more(CHUNK):
                return ""

    def consume(self, chars: int) -> None:
        taken = self.text[:chars]
        self.byte += len(taken.encode("utf-8"))
        self.line += taken.count("\n")
        self.text = self.text[chars:]


def iter_json_values(path: Path, display: str | None = None) -> Iterator[Located]:
    """Each element of a top-level JSON array, or each object of a JSON-lines file, in file order."""
    display = display or str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UserError(f"cannot read ({exc.strerror or exc})", path=display) from None
    with handle:
        buffer = _Buffer(handle, display)
        first = buffer.skip_space()
        in_array = first == "["
        if in_array:
            buffer.consume(1)
        decoder = json.JSONDecoder()
        expect_value, after_comma = True, False
        while True:
            head = buffer.skip_space()
            if in_array and head == "]":
                if after_comma:
                    raise UserError("malformed JSON (a comma before ']')", path=display, line=buffer.line)
                buffer.consume(1)
                if buffer.skip_space():
                    raise UserError("malformed JSON (text after the closing ']')", path=display, line=buffer.line)
                return
            if not head:
                if in_array:
                    raise UserError("malformed JSON (the array is not closed: a truncated file?)", path=display,
                                    line=buffer.line)
                return
            if in_array and not expect_value:
                if head != ",":
                    raise UserError(f"malformed JSON (expected ',' or ']', got {head!r})", path=display,
                                    line=buffer.line)
                buffer.consume(1)
                expect_value, after_comma = True, True
                continue
            value, chars = _decode_one(buffer, decoder)
            start, line = buffer.byte, buffer.line
            buffer.consume(chars)
            yield Located(value, start, buffer.byte, line)
            expect_value, after_comma = False, False


def _decode_one(buffer: _Buffer, decoder: json.JSONDecoder) -> tuple[Any, int]:
    """Parse the value at the start of the buffer, reading more of the file until it is complete."""
    while True:
        try:
            value, end = decoder.raw_decode(buffer.text)
            # a number at the very end of the buffer may continue in the next chunk
            if end < len(buffer.text) or buffer.eof or not isinstance(value, int | float):
                return value, end
        except json.JSONDecodeError as exc:
            if buffer.eof:
                line = buffer.line + buffer.text.count("\n", 0, exc.pos)
                raise UserError(f"malformed JSON ({exc.msg})", path=buffer.display, line=line) from None
        # double what is held, so that a record of n bytes costs O(n) parsing in all
        buffer.more(len(buffer.text))


def read_span(path: Path, start: int, end: int) -> Any:
    """The JSON value stored at bytes [start, end) of a file (a record read again for its context)."""
    with path.open("rb") as handle:
        handle.seek(start)
        return json.loads(handle.read(end - start))
