"""The word lists RULER draws from the `wonderwords` package (3.0.1): niah's word needles are its adjective-noun
pairs, cwe's words its nouns, adjectives and verbs.

RULER materialises the 6.2 million sorted adjective-noun strings (15 s and ~1 GB here) and draws with
random.choice; `AdjectiveNounPairs` is the same sorted sequence indexed without building it: the pairs fall in
blocks by adjective, and only adjectives that extend another by a hyphen ("high" / "high-pitched") interleave, so
those few blocks are sorted together. random.choice on it draws the same words from the same random state.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from typing import overload

from longeval.errors import UserError


def _wonderwords_list(name: str) -> list[str]:
    try:
        from wonderwords import random_word
    except ImportError:
        raise UserError("RULER's word needles and cwe draw from the wonderwords package, which is not installed: "
                        "pip install 'longeval[ruler]'") from None
    return list(random_word._get_words_from_text_file(name))


class AdjectiveNounPairs(Sequence[str]):
    """sorted(set(f"{adj}-{noun}" for adj in adjectives for noun in nouns)), indexed lazily."""

    def __init__(self, adjectives: list[str], nouns: list[str]) -> None:
        self._nouns = sorted(set(nouns))
        keyed = sorted(set(adjectives), key=lambda a: a + "-")
        self._blocks: list[list[str]] = []  # adjectives whose pairs interleave, in sorted order
        for adjective in keyed:
            if self._blocks and any(adjective.startswith(a + "-") for a in self._blocks[-1]):
                self._blocks[-1].append(adjective)
            else:
                self._blocks.append([adjective])
        self._merged: dict[int, list[str]] = {}
        self._starts: list[int] = []
        total = 0
        for index, block in enumerate(self._blocks):
            self._starts.append(total)
            if len(block) > 1:
                self._merged[index] = sorted({f"{a}-{n}" for a in block for n in self._nouns})
                total += len(self._merged[index])
            else:
                total += len(self._nouns)
        self._len = total

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        block = bisect.bisect_right(self._starts, index) - 1
        offset = index - self._starts[block]
        if block in self._merged:
            return self._merged[block][offset]
        return f"{self._blocks[block][0]}-{self._nouns[offset]}"


@functools.cache
def niah_words() -> AdjectiveNounPairs:
    """niah.py's `words`: every adjective-noun pair, sorted and de-duplicated."""
    return AdjectiveNounPairs(_wonderwords_list("adjectivelist.txt"), _wonderwords_list("nounlist.txt"))


@functools.cache
def cwe_words() -> tuple[str, ...]:
    """common_words_extraction.py's `words` before its seeded shuffle: nouns, adjectives and verbs, sorted, unique."""
    words = _wonderwords_list("nounlist.txt") + _wonderwords_list("adjectivelist.txt") + \
        _wonderwords_list("verblist.txt")
    return tuple(sorted(set(words)))
