"""fit_calibrated: the alert line from out-of-sample scores, and degenerate training spans."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors import Calibrator, registry
from anomalyd.detectors.constant import ConstantLevel
from anomalyd.detectors.crossfit import (
    fit_calibrated,
    fit_calibrated_many,
    flags_departures,
    fold_bounds,
)
from tests.unit.detectors.conftest import FAST_PARAMS, available_names


def test_line_comes_from_fold_copies_scoring_their_masked_block(series: np.ndarray) -> None:
    train = series[:300]
    fitted = fit_calibrated(registry.create("lof", {"window": 8}), train, quantile=0.99)
    scores = []
    for lo, hi in fold_bounds(300, 3):
        masked = train.copy()
        masked[lo:hi] = np.nan
        probe = registry.create("lof", {"window": 8}).fit(masked)
        scores.append(probe.score(train[max(lo - 7, 0) : hi])[-(hi - lo) :])
    expected = Calibrator(quantile=0.99).fit(np.concatenate(scores))
    assert fitted.calibrator.to_dict() == expected.to_dict()
    assert fitted.calibration == "cross-fitted (3 folds)"
    np.testing.assert_array_equal(
        fitted.detector.score(series),
        registry.create("lof", {"window": 8}).fit(train).score(series),
    )


def test_out_of_sample_line_is_above_the_in_sample_one() -> None:
    x = np.random.default_rng(0).normal(size=1_000)
    fitted = fit_calibrated(registry.create("lof", {"window": 16}), x)
    in_sample = Calibrator().fit(fitted.detector.score(x))
    assert fitted.calibrator.threshold_ > in_sample.threshold_
    later = np.random.default_rng(1).normal(size=3_000)
    alerts = fitted.calibrator.transform(fitted.detector.score(later)) > 1
    assert alerts.mean() < 0.02 < (in_sample.transform(fitted.detector.score(later)) > 1).mean()


def test_short_span_falls_back_to_in_sample(series: np.ndarray) -> None:
    det = registry.create("lof", {"window": 16})
    fitted = fit_calibrated(det, series[:60])
    assert fitted.calibration.startswith("in-sample")
    expected = Calibrator().fit(det.score(series[:60]))
    assert fitted.calibrator.to_dict() == expected.to_dict()
    np.testing.assert_array_equal(fitted.line_scores, det.score(series[:60]))


def test_many_equals_one_by_one(series: np.ndarray) -> None:
    spans = [series[:200], series[50:300], np.full(100, 2.0)]
    items = [(registry.create("mad", {"window": 8}), x) for x in spans]
    many = fit_calibrated_many(items, quantiles=[0.9, 0.99, 0.995])
    for got, x, q in zip(many, spans, [0.9, 0.99, 0.995], strict=True):
        one = fit_calibrated(registry.create("mad", {"window": 8}), x, quantile=q)
        assert got.calibrator.to_dict() == one.calibrator.to_dict()
        assert type(got.detector) is type(one.detector)


def _alerts(name: str, train: np.ndarray, values: np.ndarray) -> np.ndarray:
    fitted = fit_calibrated(registry.create(name, FAST_PARAMS[name]), train)
    score = fitted.calibrator.transform(fitted.detector.score(values))
    return np.nan_to_num(score, nan=0.0) > 1.0


per_detector = pytest.mark.parametrize("name", available_names())


@per_detector
@pytest.mark.parametrize("level", [0.0, 7.25, -3e9])
def test_constant_input_raises_no_alert(name: str, level: float) -> None:
    x = np.full(300, level)
    assert not _alerts(name, x[:200], x).any()


@per_detector
@pytest.mark.parametrize("level", [0.0, 7.25])
def test_flat_span_still_flags_a_departure(name: str, level: float) -> None:
    x = np.full(300, level)
    x[250] = level + 1.0
    fitted = fit_calibrated(registry.create(name, FAST_PARAMS[name]), x[:200])
    assert fitted.calibration.startswith("constant training span")
    alerts = np.flatnonzero(_alerts(name, x[:200], x))
    # the departure alerts at once, and only the windows that hold it alert
    assert alerts.size and alerts[0] == 250
    assert alerts[-1] <= 250 + fitted.detector.context_length


def test_a_detector_blind_to_a_flat_span_is_replaced() -> None:
    x = np.full(200, 3.0)
    fitted = fit_calibrated(registry.create("iforest", FAST_PARAMS["iforest"]), x)
    assert isinstance(fitted.detector, ConstantLevel)
    assert not flags_departures(registry.create("iforest", FAST_PARAMS["iforest"]).fit(x), x)
    kept = fit_calibrated(registry.create("lof", {"window": 8}), x)
    assert kept.detector.name == "lof"


@per_detector
@pytest.mark.parametrize("scale, offset", [(1e15, 0.0), (1e-12, 0.0), (1.0, 1e6), (3.0, -2.0)])
def test_alerts_do_not_depend_on_scale_or_offset(
    name: str, series: np.ndarray, scale: float, offset: float
) -> None:
    base = _alerts(name, series[:250], series)
    moved = _alerts(name, series[:250] * scale + offset, series * scale + offset)
    np.testing.assert_array_equal(moved, base)


def test_a_fold_copy_that_saw_only_a_flat_part_is_skipped() -> None:
    x = np.r_[np.full(171, 5.0), np.random.default_rng(0).normal(size=342)]
    fitted = fit_calibrated(registry.create("mad", {"window": 8}), x)
    later = np.r_[x[-20:], 20.0]
    assert fitted.calibrator.transform(fitted.detector.score(later))[-1] > 1.0


def test_masked_points_do_not_count_twice_against_a_fold() -> None:
    x = np.random.default_rng(0).normal(size=512)
    x[100:350] = np.nan  # a masked incident
    fitted = fit_calibrated(registry.create("mad", {"window": 8}), x)
    assert fitted.calibration == "cross-fitted (3 folds)"


def test_huge_and_tiny_values_standardise() -> None:
    from anomalyd.detectors._windows import channel_stats

    x = np.random.default_rng(0).normal(size=(500, 1))
    for scale in (1e200, 1e-200):
        mean, std = channel_stats(x * scale)
        np.testing.assert_allclose(std / scale, channel_stats(x)[1], rtol=1e-12)


def test_ensemble_parts_are_balanced_on_fold_scores() -> None:
    # a random walk: the window members' out-of-sample scores run far above their training
    # ones, the point member's do not; balanced, a one-point jump of 8 steps alerts
    x = np.cumsum(np.random.default_rng(1).normal(size=3_000))
    x[2_500] += 8.0
    spec = {"members": "lof:64,subpca:64"}
    fitted = fit_calibrated(registry.create("ensemble", spec), x[:2_000], quantile=0.995)
    det = fitted.detector
    parts = []
    for lo, hi in fold_bounds(2_000, 3):
        masked = x[:2_000].copy()
        masked[lo:hi] = np.nan
        probe = registry.create("ensemble", spec).fit(masked)
        parts.append(probe.score_parts(x[max(lo - det.context_length, 0) : hi])[-(hi - lo) :])
    both = np.concatenate(parts)
    np.testing.assert_array_equal(fitted.line_scores, both)  # kept for studies, before joining
    expected = [np.quantile(p[np.isfinite(p)], 0.995) for p in both.T]  # the line's quantile
    np.testing.assert_allclose(det.part_scale_, expected, rtol=1e-12)
    assert det.part_scale_[0] > 1.5 * det.part_scale_[1]
    alerts = fitted.calibrator.transform(det.score(x)) > 1
    assert alerts[2_500] and alerts[2_000:2_490].mean() < 0.02
