"""Calibrator (raw score -> anomaly_score, 1.0 = alert line) and fit_calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Calibrator, registry
from detectors.base import MIN_HOLDOUT_SCORES, fit_calibrated


def test_median_maps_to_zero_and_quantile_to_one() -> None:
    train = np.arange(1001, dtype=float)
    cal = Calibrator(quantile=0.99).fit(train)
    got = cal.transform([500.0, 990.0, 0.0, np.nan])
    np.testing.assert_allclose(got[:3], [0.0, 1.0, 0.0])
    assert np.isnan(got[3])


def test_constant_training_scores_do_not_divide_by_zero() -> None:
    cal = Calibrator().fit(np.full(100, 3.0))
    assert cal.transform([3.0])[0] == 0.0
    assert cal.transform([3.1])[0] > 1.0


def test_round_trip_dict() -> None:
    cal = Calibrator(quantile=0.9).fit(np.random.default_rng(0).normal(size=200))
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.transform([0.5, 3.0]), cal.transform([0.5, 3.0]))


def test_transform_many_equals_one_by_one() -> None:
    rng = np.random.default_rng(1)
    cals = [Calibrator(quantile=q).fit(rng.gamma(2.0, size=300)) for q in (0.9, 0.99, 0.995)]
    raws = [rng.gamma(2.0, size=n) for n in (7, 0, 12)]
    raws[2][3] = np.nan
    got = Calibrator.transform_many(cals, raws)
    for cal, raw, out in zip(cals, raws, got, strict=True):
        np.testing.assert_array_equal(out, cal.transform(raw))
    assert Calibrator.transform_many([], []) == []


@pytest.mark.parametrize(
    "quantile, scores, match",
    [
        (0.2, [1.0], r"^`quantile` must be a float in \[0.5, 1.0\]. Got 0.2 instead.$"),
        (0.99, [np.nan], "at least one finite training score"),
    ],
)
def test_calibrator_errors(quantile: float, scores: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Calibrator(quantile=quantile).fit(scores)


def test_fit_calibrated_uses_held_out_scores(series: np.ndarray) -> None:
    det = registry.create("lof", {"window": 8, "n_neighbors": 5})
    cal = fit_calibrated(det, series[:300], quantile=0.9, holdout=0.3)
    probe = registry.create("lof", {"window": 8, "n_neighbors": 5}).fit(series[:210])
    expected = Calibrator(quantile=0.9).fit(probe.score(series[:300])[210:])
    assert cal.to_dict() == expected.to_dict()
    # the detector itself is fitted on the whole training span
    full = registry.create("lof", {"window": 8, "n_neighbors": 5}).fit(series[:300])
    np.testing.assert_array_equal(det.score(series), full.score(series))


def test_fit_calibrated_falls_back_to_in_sample_when_short(series: np.ndarray) -> None:
    n = MIN_HOLDOUT_SCORES  # 30% of n is fewer than MIN_HOLDOUT_SCORES held-out scores
    det = registry.create("mad", {"window": 8})
    cal = fit_calibrated(det, series[:n], quantile=0.9, holdout=0.3)
    expected = Calibrator(quantile=0.9).fit(det.score(series[:n]))
    assert cal.to_dict() == expected.to_dict()


def test_fit_calibrated_default_is_in_sample(series: np.ndarray) -> None:
    det = registry.create("lof", {"window": 8, "n_neighbors": 5})
    cal = fit_calibrated(det, series[:300], quantile=0.9)
    expected = Calibrator(quantile=0.9).fit(det.score(series[:300]))
    assert cal.to_dict() == expected.to_dict()
