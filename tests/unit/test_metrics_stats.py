"""Bootstrap CIs, seed t-intervals and the paired bootstrap test."""

import math

import numpy as np
import pytest

from tunebench.evaluation.metrics import stats


def _bernoulli(p: float, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_bootstrap_ci_contains_the_mean():
    scores = _bernoulli(0.6, 200, seed=1)
    ci = stats.bootstrap_ci(scores, seed=0)
    assert ci.mean == pytest.approx(scores.mean())
    assert ci.low < ci.mean < ci.high
    assert ci.n == 200
    assert ci.confidence == 0.95


def test_bootstrap_ci_width_close_to_the_normal_approximation():
    scores = _bernoulli(0.5, 400, seed=2)
    ci = stats.bootstrap_ci(scores, n_resamples=2000, seed=0)
    expected_half_width = 1.96 * scores.std() / math.sqrt(scores.size)
    assert (ci.high - ci.low) / 2 == pytest.approx(expected_half_width, rel=0.15)


def test_bootstrap_ci_shrinks_with_more_data():
    small = stats.bootstrap_ci(_bernoulli(0.5, 50, seed=3), seed=0)
    large = stats.bootstrap_ci(_bernoulli(0.5, 5000, seed=3), seed=0)
    assert (large.high - large.low) < (small.high - small.low) / 5


def test_bootstrap_is_seeded():
    scores = _bernoulli(0.5, 100, seed=4)
    assert stats.bootstrap_ci(scores, seed=7) == stats.bootstrap_ci(scores, seed=7)
    assert stats.bootstrap_ci(scores, seed=7) != stats.bootstrap_ci(scores, seed=8)


def test_bootstrap_resamples_in_batches_like_in_one_go(monkeypatch):
    scores = _bernoulli(0.5, 100, seed=5)
    whole = stats.bootstrap_ci(scores, seed=1)
    monkeypatch.setattr(stats, "_MAX_DRAWS_PER_BATCH", 250)  # batches of 2 resamples
    batched = stats.bootstrap_ci(scores, seed=1)
    assert batched.low == pytest.approx(whole.low, abs=0.05)
    assert batched.high == pytest.approx(whole.high, abs=0.05)
    assert batched.high > batched.low


def test_constant_scores_give_a_point_interval():
    ci = stats.bootstrap_ci([0.5] * 20)
    assert ci.low == ci.high == ci.mean == 0.5


def test_higher_confidence_is_wider():
    scores = _bernoulli(0.5, 300, seed=6)
    ci90 = stats.bootstrap_ci(scores, confidence=0.90, seed=0)
    ci99 = stats.bootstrap_ci(scores, confidence=0.99, seed=0)
    assert ci99.high - ci99.low > ci90.high - ci90.low


@pytest.mark.parametrize("bad", [[], [float("nan")]])
def test_bootstrap_rejects_bad_scores(bad):
    with pytest.raises(ValueError):
        stats.bootstrap_ci(bad)


def test_bootstrap_rejects_bad_settings():
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1.0], n_resamples=0)
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1.0], confidence=1.0)


def test_paired_test_finds_a_real_difference():
    a = _bernoulli(0.8, 500, seed=10)
    b = _bernoulli(0.5, 500, seed=11)
    result = stats.paired_bootstrap(a, b, seed=0)
    assert result.diff == pytest.approx(a.mean() - b.mean())
    assert result.low > 0
    assert result.p_value < 0.01
    assert result.significant


def test_paired_test_identical_systems_not_significant():
    a = _bernoulli(0.7, 300, seed=12)
    result = stats.paired_bootstrap(a, a.copy(), seed=0)
    assert result.diff == 0.0
    assert result.p_value == 1.0
    assert not result.significant


def test_paired_test_small_noisy_difference_not_significant():
    a = _bernoulli(0.5, 40, seed=13)
    b = a.copy()
    b[0] = 1.0 - b[0]  # one question differs
    result = stats.paired_bootstrap(a, b, seed=0)
    assert result.low <= 0 <= result.high
    assert not result.significant


def test_paired_test_pairing_matters():
    # The scores spread widely, so unpaired intervals would overlap; b beats a by 0.05 on EVERY question,
    # which the paired test must see.
    a = np.linspace(0.0, 0.9, 200)
    b = a + 0.05
    assert stats.paired_bootstrap(a, b, seed=0).significant
    assert stats.paired_bootstrap(a, b, seed=0).diff == pytest.approx(-0.05)


def test_paired_test_needs_the_same_questions():
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1.0, 0.0], [1.0])


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (30, 2.0423)],
)
def test_t_quantile_matches_tables(df, expected):
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_other_level():
    assert stats.t_quantile(0.95, 10) == pytest.approx(1.8125, abs=1e-4)


def test_seed_summary_t_interval():
    summary = stats.seed_summary([1.0, 2.0, 3.0])
    half = 4.302653 * 1.0 / math.sqrt(3)
    assert summary.mean == pytest.approx(2.0)
    assert summary.std == pytest.approx(1.0)
    assert summary.low == pytest.approx(2.0 - half, abs=1e-5)
    assert summary.high == pytest.approx(2.0 + half, abs=1e-5)
    assert summary.n_seeds == 3


def test_seed_summary_single_seed_has_no_interval():
    summary = stats.seed_summary([0.7])
    assert summary.mean == 0.7
    assert summary.low is None and summary.high is None and summary.std is None


def test_results_serialise_to_dicts():
    assert set(stats.bootstrap_ci([1.0, 0.0]).as_dict()) == {"mean", "low", "high", "confidence", "n"}
    assert "p_value" in stats.paired_bootstrap([1.0], [0.0]).as_dict()
    assert stats.seed_summary([1.0, 1.0]).as_dict()["std"] == 0.0
