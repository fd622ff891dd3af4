"""RULER's metrics: the per-record and task scores equal what RULER's own evaluate code computed (golden cases in
tests/fixtures/ruler/metric_cases.json, made by make_fixtures.py from RULER's files), and, where ../shared is
present, what its functions compute live on random cases."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest

from longeval.benchmarks.ruler import metrics
from tests.helpers import FIXTURES
from tests.ruler_support import ruler_reference

CASES = json.loads((FIXTURES / "ruler" / "metric_cases.json").read_text())


@pytest.mark.fidelity
@pytest.mark.parametrize("case", CASES, ids=[f"{c['metric']}-{i}" for i, c in enumerate(CASES)])
def test_scores_equal_rulers_golden_cases(case):
    assert [metrics.postprocess(p) for p in case["preds"]] == case["postprocessed"]
    assert metrics.task_score(case["metric"], case["preds"], case["refs"]) == case["score"]
    for pred, refs, expected in zip(case["preds"], case["refs"], case["record_scores"], strict=True):
        assert metrics.record_score(case["metric"], pred, refs) == pytest.approx(expected, abs=5e-5)


def test_golden_cases_are_not_trivial():
    """The fixture must exercise partial credit and misses, or the comparison above proves little."""
    scores = {s for case in CASES for s in case["record_scores"]}
    assert {0.0, 1.0} <= scores and any(0 < s < 1 for s in scores)


def test_null_count_and_empty_task():
    assert metrics.null_count([" \n", "x", "\x01"]) == "2/3"
    assert metrics.task_score("string_match_all", [], []) == 0.0
    assert metrics.task_score("string_match_all", ["x"], [[None]]) == 0.0


def test_scores_equal_rulers_functions_live():
    """RULER's eval/synthetic/constants.py imported from ../shared as the oracle, on 300 random cases (not marked
    `fidelity`: it needs ../shared; the golden cases above are the fidelity test)."""
    reference = ruler_reference()
    if reference is None:
        pytest.skip("RULER's reference files (../shared/reference/ruler) are not here; the golden cases cover this")
    spec = importlib.util.spec_from_file_location("ruler_eval", reference / "eval__synthetic__constants.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    rng = random.Random(7)
    alphabet = ["Ab", "ab", "1234567", "x", " ", "\n", "VAR", "q-z"]
    for _ in range(300):
        n = rng.randint(1, 4)
        preds = ["".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(n)]
        refs = [[("".join(rng.choices(alphabet[:5], k=rng.randint(1, 2)))).strip() or "x"
                 for _ in range(rng.randint(1, 3))] for _ in range(n)]
        cleaned = [metrics.postprocess(p) for p in preds]
        for name in metrics.METRICS:
            assert metrics.task_score(name, preds, refs) == getattr(oracle, name)(cleaned, refs)
