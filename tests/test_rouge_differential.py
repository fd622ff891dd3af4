"""Differential property tests: longeval's rouge / fuzz ratio against the official libraries (test-only oracles).

The oracles are the packages the official LongBench metrics call: `rouge` 1.0.1 and fuzzywuzzy 0.18.0 (difflib
backend). Inputs stay short (< 200 tokens a side) so the package's recursive walk-back stays far below Python's
recursion limit; the one deliberate difference (RecursionError -> 0 officially) is covered in test_metrics.py.
"""

from __future__ import annotations

import difflib
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longeval.benchmarks.longbench.metrics import fuzz_ratio, jieba_tokens, rouge_score, rouge_zh_score

pytestmark = pytest.mark.fidelity
rouge_package = pytest.importorskip("rouge", reason="the official `rouge` package (test extra) is not installed")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # fuzzywuzzy warns that it uses difflib: that is the official setup
    fuzz = pytest.importorskip("fuzzywuzzy.fuzz", reason="fuzzywuzzy (test extra) is not installed")

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The three costliest comparisons (the longest inputs: most of this file's time) draw 150 examples each, not 300:
# their inputs come from a handful of words or characters, so repeats, LCS ties, sentence splits and (long second
# strings) difflib's autojunk still come up in nearly every example.
FEWER = settings(SETTINGS, max_examples=150)

# Few word types so that repeats, shared tokens and LCS ties are common; case and punctuation variants on purpose.
WORDS = ["the", "The", "cat", "cat,", "sat", "on", "mat", "report", "Report", "a", "3", "3.5", "U.S", "", "x"]
SEPARATORS = [" ", " ", " ", "  ", ".", ". ", " . ", "..", ". .", "\n", "\t", "\xa0", " .  . "]
CHINESE = [*"的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出", "。", "，", ".", "3"]


def _official_rouge_l(hypothesis: str, reference: str) -> float:
    try:
        return rouge_package.Rouge().get_scores([hypothesis], [reference], avg=True)["rouge-l"]["f"]
    except Exception:  # the official metric's bare except: no sentence on a side -> 0.0
        return 0.0


@st.composite
def english_like(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), max_size=60))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
    lead = draw(st.sampled_from(["", " ", ".", "\n"]))
    return lead + "".join(w + s for w, s in zip(words, seps, strict=True))


chinese_like = st.lists(st.sampled_from(CHINESE + [" "]), max_size=80).map("".join)


@FEWER
@given(english_like(), english_like())
def test_rouge_matches_rouge_1_0_1_on_english_like_text(hypothesis, reference):
    assert rouge_score(hypothesis, reference) == _official_rouge_l(hypothesis, reference)


@FEWER
@given(chinese_like, chinese_like)
def test_rouge_zh_matches_rouge_1_0_1_on_jieba_joined_text(hypothesis, reference):
    official = _official_rouge_l(" ".join(jieba_tokens(hypothesis)), " ".join(jieba_tokens(reference)))
    assert rouge_zh_score(hypothesis, reference) == official


@SETTINGS
@given(st.text(alphabet="ab. \n", max_size=40), st.text(alphabet="ab. \n", max_size=40))
def test_rouge_matches_on_tiny_alphabet(hypothesis, reference):
    # Two letters, dots and whitespace: maximal ties in the LCS table, empty and whitespace-only sentences.
    assert rouge_score(hypothesis, reference) == _official_rouge_l(hypothesis, reference)


def test_fuzzywuzzy_oracle_uses_difflib():
    assert fuzz.SequenceMatcher is difflib.SequenceMatcher, "python-Levenshtein installed: not the official setup"


code_like = st.text(alphabet="abc(){}=; _.\t", max_size=60)


@SETTINGS
@given(code_like, code_like)
def test_fuzz_ratio_matches_fuzzywuzzy(first, second):
    assert fuzz_ratio(first, second) == fuzz.ratio(first, second)


@FEWER
@given(st.text(alphabet="ab ", min_size=150, max_size=260), st.text(alphabet="ab c", min_size=190, max_size=260))
def test_fuzz_ratio_matches_fuzzywuzzy_with_autojunk(first, second):
    # Second strings of >= 200 characters trigger difflib's autojunk heuristic (popular characters are junk).
    assert fuzz_ratio(first, second) == fuzz.ratio(first, second)
