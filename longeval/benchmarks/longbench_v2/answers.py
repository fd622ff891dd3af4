"""The answer letter in a response, exactly as pred.py's extract_answer finds it, and the judgement.

Asterisks are removed first (markdown bold around the letter), then `The correct answer is (X)` is looked for,
then `The correct answer is X`; the first match of the first pattern that matches wins. Case-sensitive, as in
pred.py. No letter found: None, which result.py scores wrong (0.25 with its `compensated` switch).
"""

from __future__ import annotations

import re

_PARENTHESISED = re.compile(r"The correct answer is \(([A-D])\)")
_BARE = re.compile(r"The correct answer is ([A-D])")


def extract_answer(response: str) -> str | None:
    """The letter A-D the response gives, or None."""
    response = response.replace("*", "")
    match = _PARENTHESISED.search(response) or _BARE.search(response)
    return match.group(1) if match else None


def judge(pred: str | None, answer: str) -> bool:
    """pred.py's `item['pred'] == item['answer']`."""
    return pred == answer
