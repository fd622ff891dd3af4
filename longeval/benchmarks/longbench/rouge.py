"""ROUGE-L F as the PyPI package `rouge` 1.0.1 (pltrdy) computes it, which is what LongBench's official numbers use.

Written from the package's observable behaviour (checked against the package itself by
tests/test_rouge_differential.py), not from its code:

* sentences: split on ASCII "." only; empty pieces are dropped, every other piece is whitespace-collapsed, so a
  whitespace-only piece survives as the sentence "" (one empty-string token that can match);
* tokens: ``sentence.split(" ")``; no case folding, no punctuation removal, no stemming;
* m / n: numbers of DISTINCT reference / hypothesis tokens;
* for every (reference sentence, hypothesis sentence) pair, one longest common subsequence is recovered by
  walking back from the end of both: a match goes diagonally, otherwise the walk drops a reference token only
  when that keeps a strictly longer LCS than dropping a hypothesis token. The tokens met on that walk join ONE
  set of token types shared by all pairs; llcs is the size of that set (the tie-breaking decides which types
  enter, so it is reproduced exactly);
* F = 2PR / (P + R + 1e-8) with P = llcs/n, R = llcs/m.

Speed: the package fills an O(|r|·|h|) dict per sentence pair and walks back recursively. Here the LCS table is
kept as one bit-vector per reference prefix (bit-parallel LCS, Allison-Dix / Hyyrö): bit j of ``rows[i]`` is clear
where the LCS length grows between hypothesis prefixes j and j+1, so each step of the walk back (O(|r| + |h|)
steps) is one bit test. Pairs that cannot add a new token type to the shared set are skipped.

Deliberate difference: the package walks back recursively, so a pair whose walk needs about 1,000 steps raises
RecursionError inside the official ``rouge_score`` and scores 0.0. longeval has no recursion limit and returns
the value the algorithm defines (golden cases tagged ``rouge_recursion_error_scores_0``).
"""

from __future__ import annotations

from collections.abc import Sequence


def split_sentences(text: str) -> list[str]:
    """Sentences as rouge 1.0.1 sees them: '.'-separated, empty pieces dropped, whitespace collapsed."""
    return [" ".join(piece.split()) for piece in text.split(".") if piece]


def _match_masks(hypothesis: Sequence[str]) -> dict[str, int]:
    """Token -> bit mask of the hypothesis positions holding it."""
    masks: dict[str, int] = {}
    for position, token in enumerate(hypothesis):
        masks[token] = masks.get(token, 0) | (1 << position)
    return masks


def lcs_tokens(reference: Sequence[str], hypothesis: Sequence[str], masks: dict[str, int] | None = None) -> set[str]:
    """The token types on rouge 1.0.1's walk back through the LCS table of (reference, hypothesis)."""
    width = len(hypothesis)
    if masks is None:
        masks = _match_masks(hypothesis)
    full = (1 << width) - 1
    # rows[i]: the complement of the increments: bit j CLEAR iff
    # LCS(reference[:i], hypothesis[:j+1]) > LCS(reference[:i], hypothesis[:j]).
    rows = [full]
    append, mask_of = rows.append, masks.get
    complement = full
    for token in reference:
        match = complement & mask_of(token, 0)
        if match:  # a token absent from the hypothesis (or matching nowhere new) leaves the row as it was
            complement = ((complement + match) | (complement - match)) & full
        append(complement)

    found: set[str] = set()
    i, j = len(reference), width
    while i > 0 and j > 0:
        token = reference[i - 1]
        if token == hypothesis[j - 1]:
            found.add(token)
            i -= 1
            j -= 1
        elif not rows[i] >> (j - 1) & 1:
            # On a mismatch LCS(i, j) = max(up, left) with up = LCS(i-1, j), left = LCS(i, j-1), and each differs
            # from LCS(i, j) by at most 1. An increment at j-1 (bit clear) means left = LCS(i, j) - 1, so
            # up = LCS(i, j) > left; no increment means left = LCS(i, j) >= up. So the bit is rouge's `up > left`.
            i -= 1
        else:
            j -= 1
    return found


def rouge_l_f(hypothesis: str, reference: str) -> float:
    """rouge 1.0.1 ``get_scores(hyp, ref)["rouge-l"]["f"]``; ValueError when either side has no sentence."""
    hyp_sentences = [sentence.split(" ") for sentence in split_sentences(hypothesis)]
    ref_sentences = [sentence.split(" ") for sentence in split_sentences(reference)]
    if not hyp_sentences or not ref_sentences:
        raise ValueError("Collections must contain at least 1 sentence.")
    hyp_types = [set(tokens) for tokens in hyp_sentences]
    ref_vocabulary = set().union(*(set(tokens) for tokens in ref_sentences))
    hyp_vocabulary = set().union(*hyp_types)
    hyp_masks: list[dict[str, int] | None] = [None] * len(hyp_sentences)

    union: set[str] = set()
    for ref_tokens in ref_sentences:
        ref_types = set(ref_tokens)
        for index, hyp_tokens in enumerate(hyp_sentences):
            # Only types common to both sentences can enter the set; if all are already there, skip the pair.
            if (ref_types & hyp_types[index]) <= union:
                continue
            if hyp_masks[index] is None:
                hyp_masks[index] = _match_masks(hyp_tokens)
            union |= lcs_tokens(ref_tokens, hyp_tokens, hyp_masks[index])

    llcs = len(union)
    recall = llcs / len(ref_vocabulary)
    precision = llcs / len(hyp_vocabulary)
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))
