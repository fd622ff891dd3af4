"""The paired statistics against independent computations: scipy (binomtest, permutation_test, bootstrap) as
test-only oracles, exhaustive enumeration of every sign flip, hand-computed Holm and MDE, and coverage of the
bootstrap interval on simulated data with a known effect."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from longeval.report import stats

Z_975 = 1.959963984540054  # standard normal quantiles, from tables (independent of statistics.NormalDist)
Z_80 = 0.8416212335729143


@pytest.mark.parametrize(("wins", "losses"), [(0, 0), (1, 0), (0, 5), (3, 9), (10, 10), (12, 30), (57, 81),
                                              (200, 1)])
def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs(wins, losses):
    expected = 1.0 if wins + losses == 0 else sps.binomtest(wins, wins + losses, 0.5).pvalue
    assert stats.mcnemar_p(wins, losses) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def _exact_flip_p(d: np.ndarray) -> float:
    """Every one of the 2^n sign vectors, by brute force: the exact randomization p (identity included)."""
    observed = abs(d.mean())
    flips = [abs((np.array(signs) * d).mean()) for signs in itertools.product((1.0, -1.0), repeat=len(d))]
    return sum(f >= observed - 1e-12 for f in flips) / len(flips)


@pytest.mark.parametrize("d", [np.array([3.0, 1.5, 2.2, -0.4, 4.1, 0.7, 2.9, -1.3]),
                               np.array([1.0, -1.0, 1.0, 1.0, 0.0, 1.0, -1.0, 1.0])])  # ties: 0/1 differences
def test_sign_flip_p_converges_to_the_exhaustive_enumeration_for_n_8(d):
    exact = _exact_flip_p(d)
    resamples = 100_000
    null = stats.sign_flip_means(d, resamples, np.random.default_rng(7))
    p = stats.randomization_p(float(d.mean()), null)
    assert abs(p - exact) < 4.5 * np.sqrt(exact * (1 - exact) / resamples) + 2 / resamples


def test_sign_flip_p_agrees_with_scipy_paired_permutation_test():
    rng = np.random.default_rng(3)
    base = rng.random(40)
    candidate = np.clip(base + rng.normal(0.06, 0.2, 40), 0, 1)
    resamples = 20_000
    oracle = sps.permutation_test((candidate, base), lambda x, y, axis: np.mean(x - y, axis=axis),
                                  permutation_type="samples", n_resamples=resamples, alternative="two-sided",
                                  vectorized=True, random_state=11).pvalue
    result, _, _ = stats.paired_task(base, candidate, binary=False, resamples=resamples,
                                     rng=np.random.default_rng(5), alpha=0.05)
    assert result.test == "sign-flip"
    assert 0.01 < oracle < 0.5  # a case where the p-value is informative
    assert abs(result.p - oracle) < 4.5 * np.sqrt(2 * oracle * (1 - oracle) / resamples)


def test_randomization_p_is_never_zero_and_is_one_without_differences():
    null = stats.sign_flip_means(np.full(30, 5.0), 999, np.random.default_rng(0))
    # 30 equal differences: only the two all-same-sign flips (chance 2^-29) reach |T|, so p is its floor 1/(1+R)
    assert stats.randomization_p(5.0, null) == 1 / 1000
    zeros, _, _ = stats.paired_task([0.3] * 10, [0.3] * 10, binary=False, resamples=500,
                                    rng=np.random.default_rng(0), alpha=0.05)
    assert (zeros.p, zeros.delta, zeros.wins, zeros.losses) == (1.0, 0.0, 0, 0)


def test_bootstrap_interval_matches_scipy_percentile_bootstrap_within_monte_carlo_error():
    rng = np.random.default_rng(21)
    base, candidate = rng.random(200), rng.random(200)
    d = 100 * (candidate - base)
    resamples = 10_000
    oracle = sps.bootstrap((d,), np.mean, method="percentile", n_resamples=resamples, confidence_level=0.95,
                           random_state=2).confidence_interval
    result, _, _ = stats.paired_task(base, candidate, binary=False, resamples=resamples,
                                     rng=np.random.default_rng(9), alpha=0.05)
    standard_error = d.std(ddof=1) / np.sqrt(len(d))
    assert result.ci_low == pytest.approx(oracle.low, abs=0.15 * standard_error)
    assert result.ci_high == pytest.approx(oracle.high, abs=0.15 * standard_error)
    assert result.delta == pytest.approx(d.mean(), abs=1e-12)


def test_bootstrap_interval_covers_the_true_delta_about_95_percent_of_the_time():
    """Property: on simulated paired data with a known mean difference, the 95% interval covers it in about 95%
    of repetitions (percentile bootstrap at n=100: close to nominal; bounds leave room for Monte-Carlo error)."""
    rng = np.random.default_rng(2024)
    repetitions, covered, rejected_null = 250, 0, 0
    for _ in range(repetitions):
        base = rng.random(100)
        candidate = base + rng.normal(0.03, 0.25, 100)  # true mean difference 3 points
        result, _, _ = stats.paired_task(base, candidate, binary=False, resamples=1000, rng=rng, alpha=0.05)
        covered += result.ci_low <= 3.0 <= result.ci_high
        same, _, _ = stats.paired_task(base, base + rng.normal(0, 0.25, 100), binary=False, resamples=1000,
                                       rng=rng, alpha=0.05)
        rejected_null += same.p < 0.05
    assert 0.905 <= covered / repetitions <= 0.99  # here 0.932; a 90% interval in its place covers 0.884
    assert 0.01 <= rejected_null / repetitions <= 0.10  # the test's level under no effect


def test_binary_tasks_use_mcnemar_and_count_the_flips():
    base = [1, 1, 0, 0, 1, 0, 1, 0, 0, 0] * 5
    candidate = [1, 0, 1, 1, 1, 1, 0, 1, 0, 1] * 5
    result, _, _ = stats.paired_task(base, candidate, binary=True, resamples=1000, rng=np.random.default_rng(0),
                                     alpha=0.05)
    assert (result.test, result.wins, result.losses, result.n) == ("mcnemar", 25, 10, 50)
    assert result.p == pytest.approx(sps.binomtest(10, 35, 0.5).pvalue, rel=1e-12)
    assert result.delta == pytest.approx(100 * 15 / 50)
    with pytest.raises(ValueError, match="0 or 1"):
        stats.paired_task([0.5, 1.0], [1.0, 1.0], binary=True, resamples=10, rng=np.random.default_rng(0),
                          alpha=0.05)


def test_holm_on_a_hand_example():
    # sorted: d .005*4=.02; a .01*3=.03; c .03*2=.06; b .04*1=.04 -> raised to the running max .06
    adjusted = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})
    assert list(adjusted) == ["a", "b", "c", "d"]  # the caller's order
    assert stats.holm({"x": 0.4, "y": 0.6}) == pytest.approx({"x": 0.8, "y": 0.8})  # capped, monotone
    assert stats.holm({"only": 0.2}) == {"only": 0.2}


def test_minimum_detectable_effect_by_hand():
    d = np.array([2.0, -1.0, 4.0, 0.0, 3.0, 1.0])
    sd = np.sqrt(((d - d.mean()) ** 2).sum() / (len(d) - 1))
    assert stats.minimum_detectable_effect(d, 0.05) == pytest.approx((Z_975 + Z_80) * sd / np.sqrt(6), rel=1e-9)
    assert stats.minimum_detectable_effect(np.array([1.0]), 0.05) is None


def _exact_stratified_p(tasks: list[np.ndarray]) -> float:
    observed = abs(np.mean([d.mean() for d in tasks]))
    sizes = [len(d) for d in tasks]
    hits = total = 0
    for signs in itertools.product((1.0, -1.0), repeat=sum(sizes)):
        parts, start = [], 0
        for d, size in zip(tasks, sizes, strict=True):
            parts.append((np.array(signs[start:start + size]) * d).mean())
            start += size
        hits += abs(np.mean(parts)) >= observed - 1e-12
        total += 1
    return hits / total


def test_macro_row_is_stratified_over_tasks():
    d1 = np.array([0.30, 0.10, 0.25, -0.05])  # per-record differences (scores in [0, 1])
    d2 = np.array([-0.10, 0.20, 0.05, 0.15, 0.20])
    pairs = {"one": (np.zeros(4), d1, False), "two": (np.full(5, 0.5), 0.5 + d2, False)}
    resamples = 50_000
    result = stats.compare_paired(pairs, resamples=resamples, seed=4, alpha=0.05)
    assert result.macro.delta == pytest.approx(100 * (d1.mean() + d2.mean()) / 2)
    exact = _exact_stratified_p([d1, d2])
    assert abs(result.macro.p - exact) < 4.5 * np.sqrt(exact * (1 - exact) / resamples) + 2 / resamples
    # the interval: an independent stratified bootstrap written out plainly
    rng = np.random.default_rng(99)
    draws = 40_000
    means = 50 * (d1[rng.integers(0, 4, (draws, 4))].mean(axis=1) + d2[rng.integers(0, 5, (draws, 5))].mean(axis=1))
    low, high = np.quantile(means, [0.025, 0.975])
    assert result.macro.ci_low == pytest.approx(low, abs=0.4)
    assert result.macro.ci_high == pytest.approx(high, abs=0.4)


def test_seeded_and_independent_of_the_other_tasks():
    rng = np.random.default_rng(1)
    pairs = {name: (rng.random(50), rng.random(50), False) for name in ("a", "b", "c")}
    first = stats.compare_paired(pairs, resamples=2000, seed=3)
    assert stats.compare_paired(pairs, resamples=2000, seed=3) == first
    assert stats.compare_paired(pairs, resamples=2000, seed=4).tasks["a"] != first.tasks["a"]
    alone = stats.compare_paired({"a": pairs["a"]}, resamples=2000, seed=3)
    assert alone.tasks["a"] == first.tasks["a"]


def test_resamples_drawn_in_blocks_fill_every_slot(monkeypatch):
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 50)  # 7 resamples of 7 records per block: 15 blocks
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])
    boot = stats.bootstrap_means(d, 101, np.random.default_rng(0))
    flips = stats.sign_flip_means(d, 101, np.random.default_rng(0))
    assert boot.shape == flips.shape == (101,)
    assert np.all((boot >= 1.0) & (boot <= 100.0))
    assert np.all(np.abs(flips) <= np.abs(d).mean() + 1e-12)
    assert len(np.unique(boot)) > 30  # not one block repeated


def test_mean_interval_of_one_run():
    scores = np.r_[np.ones(30), np.zeros(70)]
    low, high = stats.mean_interval(scores, resamples=10_000, seed=0)
    oracle = sps.bootstrap((100 * scores,), np.mean, method="percentile", n_resamples=10_000,
                           random_state=1).confidence_interval
    assert low < 30 < high
    assert low == pytest.approx(oracle.low, abs=1.0) and high == pytest.approx(oracle.high, abs=1.0)
