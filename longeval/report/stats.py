"""Paired statistics for two runs scored on the same records: is a difference real, or noise?

Two methods evaluated on the same records form a paired design: what varies between them is the per-record
difference d_i = candidate_i - base_i (in the task's points, 0-100). Everything here works on those differences:

- delta: mean(d), the difference of the two task scores;
- CI: paired bootstrap percentile interval of mean(d) (records resampled with replacement, `resamples` times);
- p: exact two-sided McNemar test (binomial on the discordant pairs) when per-record scores are 0/1, otherwise a
  paired randomization test: each d_i's sign flipped at random, p = (1 + #{|T*| >= |T|}) / (1 + R);
- p_holm: Holm's step-down adjustment over the tasks of one comparison;
- macro: delta of the macro averages, CI by a stratified bootstrap (each task resampled on its own), p by
  stratified sign flips (each task's signs flipped on its own);
- mde: the smallest true delta a test at level alpha would detect with 80% power given n and the observed sd.

numpy only (scipy is a test oracle, never a dependency), vectorised over resamples in blocks so that 10,000
resamples of a few hundred records take milliseconds. A task's random stream is seeded from (seed, task name), so
its numbers do not change when other tasks are added to or left out of a comparison.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from longeval.report.defaults import DEFAULT_ALPHA, DEFAULT_RESAMPLES, DEFAULT_SEED

POWER = 0.8
_BLOCK_ELEMENTS = 1 << 21  # resamples x records drawn at once: bounded memory (16 MB of indices) for any n


@dataclass(frozen=True)
class PairedStats:
    """One task (or one LongBench-E bucket) of a comparison, in the task's points."""

    n: int
    delta: float  # mean(candidate - base)
    ci_low: float
    ci_high: float
    p: float
    test: str  # "mcnemar" or "sign-flip"
    wins: int  # records where the candidate scored higher
    losses: int  # records where the base scored higher
    mde: float | None  # minimum detectable effect (None: fewer than 2 records)


@dataclass(frozen=True)
class MacroStats:
    delta: float
    ci_low: float
    ci_high: float
    p: float


@dataclass(frozen=True)
class Comparison:
    tasks: dict[str, PairedStats]
    p_holm: dict[str, float]
    macro: MacroStats


def task_rng(seed: int, key: str) -> np.random.Generator:
    """The random stream of one task: depends on the seed and the task's name only."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode("utf-8"))]))


def _blocks(resamples: int, n: int) -> list[tuple[int, int]]:
    size = max(1, _BLOCK_ELEMENTS // max(n, 1))
    return [(start, min(resamples, start + size)) for start in range(0, resamples, size)]


def bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `resamples` bootstrap samples of values (n records drawn with replacement), shape (resamples,)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    out = np.empty(resamples)
    index_type = np.int32 if n < 2**31 else np.int64  # half the random bits of int64: twice as fast
    for start, stop in _blocks(resamples, n):
        out[start:stop] = values[rng.integers(0, n, size=(stop - start, n), dtype=index_type)].mean(axis=1)
    return out


def sign_flip_means(differences: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """mean(s * d) for `resamples` random sign vectors s in {-1, +1}^n: the null distribution of a paired mean
    (under no effect, each record's difference is as likely to have the other sign)."""
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    total = d.sum()
    out = np.empty(resamples)
    for start, stop in _blocks(resamples, n):
        count = (stop - start) * n  # one random bit per sign: 8 signs per random byte
        bits = np.unpackbits(np.frombuffer(rng.bytes((count + 7) // 8), dtype=np.uint8), count=count)
        flipped = bits.reshape(stop - start, n).astype(np.float64)
        out[start:stop] = (total - 2.0 * (flipped @ d)) / n  # flipping the set F: sum(d) - 2 * sum(d over F)
    return out


def percentile_interval(distribution: np.ndarray, alpha: float) -> tuple[float, float]:
    """The (alpha/2, 1 - alpha/2) quantiles of a bootstrap distribution: the percentile interval."""
    low, high = np.quantile(distribution, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def randomization_p(observed: float, null: np.ndarray) -> float:
    """Two-sided Monte-Carlo p: (1 + #{|T*| >= |T|}) / (1 + R); never 0, exact in level for any R.

    A tolerance of 1e-9 relative to the statistic's scale counts ties that float rounding would split (the flips of
    a difference vector with repeated values reach |T| exactly)."""
    scale = max(abs(observed), float(np.max(np.abs(null), initial=0.0)), 1.0)
    extreme = int(np.count_nonzero(np.abs(null) >= abs(observed) - 1e-9 * scale))
    return (1 + extreme) / (1 + len(null))


def mcnemar_p(wins: int, losses: int) -> float:
    """Exact two-sided McNemar test: under no effect each discordant pair is a fair coin, so
    p = min(1, 2 * P[Binomial(wins + losses, 1/2) <= min(wins, losses)]), computed with exact integers."""
    discordant = wins + losses
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment (controls the family-wise error over the tasks of one comparison):
    sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j))."""
    order = sorted(pvalues, key=lambda key: pvalues[key])
    m = len(order)
    adjusted: dict[str, float] = {}
    running = 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        adjusted[key] = running
    return {key: adjusted[key] for key in pvalues}


def minimum_detectable_effect(differences: np.ndarray, alpha: float, power: float = POWER) -> float | None:
    """Smallest true mean difference a two-sided test at level alpha detects with the given power (normal
    approximation of the paired mean): mde = (z_{1-alpha/2} + z_{power}) * sd(d) / sqrt(n), sd with ddof=1, in
    the units of d (the task's points). None for fewer than two records."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) < 2:
        return None
    z = NormalDist()
    return float((z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) * d.std(ddof=1) / math.sqrt(len(d)))


def is_zero_one(values: np.ndarray) -> bool:
    return bool(np.all((values == 0.0) | (values == 1.0)))


def paired_task(base: Sequence[float], candidate: Sequence[float], *, binary: bool, resamples: int,
                rng: np.random.Generator, alpha: float) -> tuple[PairedStats, np.ndarray, np.ndarray]:
    """Statistics of one task from per-record scores in [0, 1] (paired by position), with the task's bootstrap
    and sign-flip distributions of the mean difference (in points) for the stratified macro row."""
    a = np.asarray(base, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError("paired scores need two equally long, non-empty sequences")
    if binary and not (is_zero_one(a) and is_zero_one(b)):
        raise ValueError("McNemar needs per-record scores of 0 or 1")
    d = 100.0 * (b - a)
    wins, losses = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
    boot = bootstrap_means(d, resamples, rng)
    flips = sign_flip_means(d, resamples, rng)
    delta = float(d.mean())
    low, high = percentile_interval(boot, alpha)
    p = mcnemar_p(wins, losses) if binary else randomization_p(delta, flips)
    stats = PairedStats(n=len(d), delta=delta, ci_low=low, ci_high=high, p=p,
                        test="mcnemar" if binary else "sign-flip", wins=wins, losses=losses,
                        mde=minimum_detectable_effect(d, alpha))
    return stats, boot, flips


def compare_paired(pairs: Mapping[str, tuple[Sequence[float], Sequence[float], bool]], *,
                   resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                   alpha: float = DEFAULT_ALPHA) -> Comparison:
    """Every task of one comparison: `pairs` maps task -> (base scores, candidate scores, binary)."""
    if not pairs:
        raise ValueError("nothing to compare")
    tasks: dict[str, PairedStats] = {}
    boots, flips = [], []
    for key, (base, candidate, binary) in pairs.items():
        stats, boot, flip = paired_task(base, candidate, binary=binary, resamples=resamples,
                                        rng=task_rng(seed, key), alpha=alpha)
        tasks[key] = stats
        boots.append(boot)
        flips.append(flip)
    # Stratified: resample r of the macro is the mean over tasks of each task's own resample r.
    delta = float(np.mean([s.delta for s in tasks.values()]))
    low, high = percentile_interval(np.mean(boots, axis=0), alpha)
    macro = MacroStats(delta=delta, ci_low=low, ci_high=high, p=randomization_p(delta, np.mean(flips, axis=0)))
    return Comparison(tasks=tasks, p_holm=holm({key: s.p for key, s in tasks.items()}), macro=macro)


def mean_interval(scores: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                  alpha: float = DEFAULT_ALPHA, key: str = "") -> tuple[float, float]:
    """Bootstrap percentile interval of one run's task score (per-record scores in [0, 1]), in points."""
    values = 100.0 * np.asarray(scores, dtype=np.float64)
    return percentile_interval(bootstrap_means(values, resamples, task_rng(seed, key)), alpha)
