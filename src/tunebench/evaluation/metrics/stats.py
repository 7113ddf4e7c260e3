"""Uncertainty for benchmark numbers: bootstrap CIs over questions, t-intervals over seeds, and a
paired bootstrap test, so that a report can say whether a difference between two systems is real.

Everything is seeded (numpy Generator) and therefore reproducible. Units follow the input: pass
per-question scores in [0, 1] and the results are in [0, 1] too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
# Upper bound on indices drawn at once, so that large benchmarks resample in bounded memory.
_MAX_DRAWS_PER_BATCH = 4_000_000


@dataclass(frozen=True)
class ConfidenceInterval:
    mean: float
    low: float
    high: float
    confidence: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SeedSummary:
    """Mean over seeds; std and the t-interval are None with a single seed."""

    mean: float
    std: float | None
    low: float | None
    high: float | None
    confidence: float
    n_seeds: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """Difference mean(a) - mean(b) on the same questions, its bootstrap CI and two-sided p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    significant: bool
    confidence: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def _as_scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("need at least one score")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite")
    return values


def _check_settings(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")


def resampled_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of n_resamples bootstrap resamples (with replacement, same size) of values."""
    size = values.size
    batch = max(1, _MAX_DRAWS_PER_BATCH // size)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, batch):
        stop = min(start + batch, n_resamples)
        indices = rng.integers(0, size, size=(stop - start, size))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def _percentile_bounds(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    scores: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile-bootstrap CI of the mean of per-question scores."""
    _check_settings(n_resamples, confidence)
    values = _as_scores(scores)
    means = resampled_means(values, n_resamples, np.random.default_rng(seed))
    low, high = _percentile_bounds(means, confidence)
    return ConfidenceInterval(float(values.mean()), low, high, confidence, int(values.size))


def paired_bootstrap(
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> PairedTest:
    """Paired bootstrap over questions of mean(a) - mean(b).

    The same resampled questions are used for both systems. The two-sided p-value centres the bootstrap
    distribution on 0 (null: no difference): p = (1 + #{|d* - d| >= |d|}) / (1 + resamples), so it is
    never 0 and is 1 for identical systems. Significant means p < 1 - confidence.
    """
    _check_settings(n_resamples, confidence)
    a, b = _as_scores(scores_a), _as_scores(scores_b)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same questions: {a.size} vs {b.size}")
    differences = a - b
    observed = float(differences.mean())
    means = resampled_means(differences, n_resamples, np.random.default_rng(seed))
    low, high = _percentile_bounds(means, confidence)
    extreme = int(np.count_nonzero(np.abs(means - observed) >= abs(observed)))
    p_value = (1 + extreme) / (1 + n_resamples)
    return PairedTest(observed, low, high, p_value, p_value < 1.0 - confidence, confidence, int(a.size))


def _t_abs_cdf(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer df >= 1 (Abramowitz & Stegun 26.7.3 / 26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):
            term *= cos2 * (k - 1) / k
            total += term
        return math.sin(theta) * total
    if df == 1:
        return 2.0 * theta / math.pi
    term, total = 1.0, 1.0
    for k in range(3, df - 1, 2):
        term *= cos2 * (k - 1) / k
        total += term
    return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)


def t_quantile(probability: float, df: int) -> float:
    """Upper quantile of Student's t: q with P(T <= q) = probability, for probability in (0.5, 1)."""
    if not 0.5 < probability < 1.0 or df < 1:
        raise ValueError("t_quantile needs probability in (0.5, 1) and df >= 1")
    target = 2.0 * probability - 1.0
    low, high = 0.0, 1.0
    while _t_abs_cdf(high, df) < target:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if _t_abs_cdf(middle, df) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def seed_summary(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE) -> SeedSummary:
    """Mean over seeds with a Student-t interval (sample std, n-1 df) when there are >= 2 seeds."""
    _check_settings(1, confidence)
    runs = _as_scores(values)
    mean = float(runs.mean())
    if runs.size < 2:
        return SeedSummary(mean, None, None, None, confidence, 1)
    std = float(runs.std(ddof=1))
    half = t_quantile((1.0 + confidence) / 2.0, runs.size - 1) * std / math.sqrt(runs.size)
    return SeedSummary(mean, std, mean - half, mean + half, confidence, int(runs.size))
