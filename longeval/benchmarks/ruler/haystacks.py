"""The text RULER hides its needles in: the noise sentences, the needle sentence, and the essay haystack read
from --ruler-essays (a text file, or a folder whose *.txt files are read in name order and concatenated, as
RULER's download script builds PaulGrahamEssays.json), with its sha256 for run.json and the record cache.

RULER splits the essay haystack into sentences with NLTK's punkt model (a download, not reachable offline);
`split_sentences` is a rule written here (a full stop, question or exclamation mark, optionally closed by quotes
or brackets, then whitespace before a capital, digit or opening quote; common abbreviations and initials do not
end a sentence). It decides only at which sentence boundaries the needles may go: see the package docstring.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from longeval.errors import UserError

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."

_BOUNDARY = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "etc.", "e.g.",
                            "i.e.", "inc.", "co.", "corp.", "ltd.", "no.", "u.s.", "p.s.", "cf.", "al."})


@dataclass(frozen=True)
class Essays:
    """The essay haystack: its text as RULER reads it (whitespace runs to one space, split on spaces)."""

    words: tuple[str, ...]
    source: str          # the path given
    sha256: str          # of the concatenated text, before whitespace normalisation


def read_essays(path: str | Path) -> Essays:
    """The essay text of a file, or of a folder's *.txt files in name order (UserError when there is none)."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise UserError("no *.txt essay files in this folder", path=path)
    elif path.is_file():
        files = [path]
    else:
        raise UserError("--ruler-essays: no such file or folder", path=path)
    try:
        text = "".join(file.read_text(encoding="utf-8") for file in files)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the essays ({exc})", path=path) from None
    if not text.strip():
        raise UserError("the essay text is empty", path=path)
    return Essays(words=tuple(re.sub(r"\s+", " ", text).split(" ")), source=str(path),
                  sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def split_sentences(text: str) -> list[str]:
    """Sentences of whitespace-normalised text; joining them with single spaces gives the text back."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        last_word = text[text.rfind(" ", start, end) + 1:end].lower().rstrip("\"')]")
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue
        sentences.append(text[start:end].strip())
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
