"""Calibrator: raw score -> anomaly_score, 1.0 at the target false-alarm rate, severity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from anomalyd.detectors import Calibrator
from anomalyd.detectors.calibration import MAX_SCORE, bounded


def test_line_sits_at_the_target_rate_on_a_large_sample() -> None:
    s = np.random.default_rng(0).exponential(size=200_000)
    cal = Calibrator(quantile=0.995).fit(s)
    assert float(np.mean(cal.transform(s) > 1.0)) == pytest.approx(0.005, rel=0.05)
    # an exponential tail: P(R >= r) = exp(-r), so the score is r / -log(rate)
    r = np.array([-np.log(0.005), -np.log(0.005**2), -np.log(0.005**3)])
    np.testing.assert_allclose(cal.transform(r), [1.0, 2.0, 3.0], rtol=0.02)


def test_tail_equals_scipy_genpareto_beyond_the_threshold() -> None:
    s = stats.genpareto.rvs(0.3, size=5_000, random_state=np.random.default_rng(1))
    cal = Calibrator(quantile=0.99).fit(s)
    assert 0.0 < cal.shape_ <= 0.5
    r = cal.threshold_ + np.array([0.5, 3.0, 40.0])
    sf = stats.genpareto.sf(r - cal.threshold_, cal.shape_, scale=cal.sigma_)
    expected = np.log(cal.tail_ * sf) / np.log(0.01)
    np.testing.assert_allclose(cal.transform(r), expected, rtol=1e-12)


def test_line_beyond_the_largest_score_is_extrapolated() -> None:
    s = np.random.default_rng(2).normal(size=300)  # 300 scores cannot show a 1e-4 quantile
    cal = Calibrator(quantile=0.9999).fit(s)
    line = s.max() + 1e-9
    assert cal.transform(np.array([line]))[0] < 1.0  # the line lies beyond every score seen
    assert cal.transform(np.array([s.max() + 3.0]))[0] > 1.0


def test_monotone_nonnegative_zero_at_median_nan_kept() -> None:
    s = np.random.default_rng(3).gamma(2.0, size=1_000)
    cal = Calibrator().fit(s)
    r = np.linspace(-5, 50, 500)
    got = cal.transform(r)
    assert np.all(np.diff(got) >= 0) and np.all(got >= 0)
    assert cal.transform(np.array([np.median(s)]))[0] == 0.0
    assert np.isnan(cal.transform(np.array([np.nan]))[0])
    assert cal.transform(np.array([1e300]))[0] == MAX_SCORE


@pytest.mark.parametrize("level", [0.0, 3.0, -7e12, 4e-15])
def test_constant_scores_alert_only_on_a_real_departure(level: float) -> None:
    cal = Calibrator().fit(np.full(200, level))
    noise = level + 4e-8 * max(abs(level), 1e-300)
    assert cal.transform(np.array([level, noise])).max() < 1.0
    assert cal.transform(np.array([level + 1e-3 * max(abs(level), 1.0)]))[0] > 1.0


@pytest.mark.parametrize(
    "scores",
    [np.random.default_rng(4).gamma(2.0, size=1_000), np.r_[np.zeros(950), np.arange(1.0, 51.0)]],
    ids=["spread", "median equals u"],
)
def test_rank_is_strictly_increasing_and_clips_to_transform(scores: np.ndarray) -> None:
    cal = Calibrator().fit(scores)
    r = np.r_[np.linspace(-5.0, 60.0, 2_000), 1e300, np.nan]
    rank = cal.rank(r)
    assert np.all(np.diff(rank[:-1]) > 0)  # ranks as the raw score does, no ties
    assert rank[0] < 0 and rank[-2] > MAX_SCORE and np.isnan(rank[-1])
    np.testing.assert_array_equal(bounded(rank), cal.transform(r))


def test_scores_at_a_zero_median_are_positive_zero() -> None:
    """-0.0 would be stored and served as such: the floor gives +0.0."""
    tail = np.random.default_rng(5).gamma(2.0, size=400)
    cal = Calibrator().fit(np.r_[np.zeros(600), tail])
    floor = cal.transform(np.array([-0.0, 0.0, -5.0]))
    assert cal.center_ == 0.0 and (floor == 0.0).all() and not np.signbit(floor).any()


def test_transform_many_equals_transform() -> None:
    rng = np.random.default_rng(0)
    cals = [Calibrator(quantile=q).fit(rng.gamma(2.0, size=300)) for q in (0.9, 0.99, 0.995)]
    raws = [rng.gamma(2.0, size=n) * 3 for n in (5, 0, 17)]
    got = Calibrator.transform_many(cals, raws)
    for cal, raw, g in zip(cals, raws, got, strict=True):
        np.testing.assert_array_equal(g, cal.transform(raw))
    assert Calibrator.transform_many([], []) == []


def test_round_trip() -> None:
    cal = Calibrator(quantile=0.9).fit(np.random.default_rng(0).normal(size=200))
    again = Calibrator.from_dict(cal.to_dict())
    x = np.linspace(-3, 9, 50)
    np.testing.assert_array_equal(cal.transform(x), again.transform(x))


@pytest.mark.parametrize(
    "quantile, scores, match",
    [
        (0.2, [1.0], r"^`quantile` must be a float in \[0.5, 1.0\]. Got 0.2 instead.$"),
        (0.99, [np.nan, np.inf], "at least one finite score"),
    ],
)
def test_calibrator_errors(quantile: float, scores: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Calibrator(quantile=quantile).fit(scores)
