"""RULER (Hsieh et al. 2024, NVIDIA/RULER at c3f5e3b) as a longeval benchmark: 13 synthetic tasks generated to a
max length on the model's own tokenizer, scored with RULER's string_match_all / string_match_part.

Modules, in data-flow order: definitions (a task as data), haystacks / words / inputs (what needles hide in),
fill (frame, budget search, per-sample retry), niah / vt / cwe / fwe / qa (RULER's generators, written here),
cache + generate (records), metrics (scores).

Fidelity. With the same seed, tokenizer and max length the generators consume python's and numpy's random state
in RULER's order, so the noise- and needle-haystack niah tasks, vt, cwe and fwe give RULER's samples byte for byte
(tests/test_ruler_differential.py runs RULER's scripts as the oracle). The differences, each deliberate:
1. Essay haystack: RULER splits sentences with NLTK punkt (a model download, unreachable offline); here a rule
   (haystacks.split_sentences). Needles go at the same depths, counted in sentences, so a needle may land a
   sentence or two away from where RULER would put it in text punkt splits differently. The essays are the 49
   in RULER's upstream repository (its download script also fetches more from paulgraham.com) from
   --ruler-essays, so essay-haystack records are not RULER's byte for byte.
2. Single-needle wording: RULER rewrites "Some/are/answers" in its whole template, model wrapper included (a
   chat template saying "You are" would read "You is"); here only RULER's task text and answer prefix.
3. cwe past ~8,000 distinct words (above ~100k tokens) needs RULER's english_words.json (a Git-LFS file not
   available): refused. fwe's zeta is computed here (equal to scipy's for RULER's alpha = 2).
4. RULER's sample loop retries forever when no sample fits; here it gives up after 100 draws with a UserError.
5. Not carried: RULER's --remove_newline_tab option (off by default) and niah's token_position_answer field.
The answer prefix ends every prompt after the chat wrapper, as RULER's prepare.py builds it.
"""

from longeval.benchmarks.ruler.unit import Ruler

__all__ = ["Ruler"]
