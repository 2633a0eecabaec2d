"""ForecastResidual against a slow, obviously-correct reference, and the predictor it picks."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors import registry
from anomalyd.detectors.residual import ForecastResidual


def reference_residual(x: np.ndarray, k: int, period: int) -> np.ndarray:
    """x[t] minus the forecast, point by point with plain Python lists."""

    def base(t: int) -> float:
        return float(np.median([x[t - j * period] for j in (1, 2, 3)])) if period else 0.0

    out = np.full(len(x), np.nan)
    for t in range(k + 3 * period, len(x)):
        if any(np.isnan(v) for v in x[t - 3 * period - k : t + 1]):
            continue
        recent = [x[t - j] - base(t - j) for j in range(1, k + 1)]
        out[t] = x[t] - base(t) - float(np.median(recent))
    return out


def fitted(x: np.ndarray, **params: object) -> ForecastResidual:
    det = registry.create("residual", params)
    assert isinstance(det, ForecastResidual)
    return det.fit(x)


@pytest.mark.parametrize(("k", "period"), [(1, 0), (4, 0), (32, 0), (1, 24), (4, 24)])
def test_scores_equal_the_reference(k: int, period: int) -> None:
    rng = np.random.default_rng(k + period)
    x = rng.normal(size=600)
    x[[50, 300]] = np.nan
    det = fitted(x)
    det.lookback_, det.period_ = np.array([k]), np.array([period])
    expected = np.abs(reference_residual(x, k, period)) / det.scale_[0]
    np.testing.assert_allclose(det.score(x), expected, rtol=1e-12, equal_nan=True)


def test_scale_is_the_chosen_residual_quantile() -> None:
    x = np.random.default_rng(0).normal(size=1000)
    det = fitted(x, quantile=0.95)
    r = reference_residual(x, int(det.lookback_[0]), int(det.period_[0]))
    assert det.scale_[0] == pytest.approx(np.nanquantile(np.abs(r), 0.95), rel=1e-12)


def test_a_random_walk_is_forecast_by_its_last_few_values() -> None:
    x = np.cumsum(np.random.default_rng(1).normal(size=2000))
    det = fitted(x)
    assert (det.lookback_[0], det.period_[0]) == (3, 0)
    assert det.echo_window == 1


def test_a_spike_does_not_echo_into_the_next_forecasts() -> None:
    x = np.cumsum(np.random.default_rng(6).normal(size=2000))
    x[1500] += 10.0
    s = fitted(x[:1000]).score(x)
    assert s[1500] > 1.5 * np.nanmax(s[1501:1510])


def test_short_windows_fall_back_to_one_and_two_point_lookbacks() -> None:
    assert registry.create("residual", {"window": 3}).lookbacks() == [1, 2]
    det = fitted(np.cumsum(np.random.default_rng(1).normal(size=500)), window=3)
    assert det.echo_window == 2


def test_noise_is_forecast_by_a_long_median() -> None:
    det = fitted(np.random.default_rng(2).normal(size=2000))
    assert det.lookback_[0] >= 16 and det.period_[0] == 0


def test_a_periodic_job_is_forecast_from_one_period_ago() -> None:
    t = np.arange(2000)
    x = 20.0 * (t % 72 < 6) + 0.5 * np.random.default_rng(3).normal(size=2000)
    det = fitted(x)
    assert det.period_[0] == 72
    spike = x.copy()
    spike[1900] += 5.0  # 10 noise deviations, small against the job's 20
    s = det.score(spike)
    assert s[1900] > 1.2 * np.nanmax(np.delete(s[1000:], 900))
    assert fitted(x, seasonal=False).score(spike)[1900] < 1.0


def test_seasonal_false_never_looks_a_period_back() -> None:
    t = np.arange(2000)
    x = 20.0 * (t % 72 < 6) + 0.5 * np.random.default_rng(3).normal(size=2000)
    assert fitted(x, seasonal=False).period_[0] == 0


@pytest.mark.parametrize("factor", [1e-12, 1e15])
def test_scores_do_not_depend_on_scale_or_offset(factor: float) -> None:
    x = np.random.default_rng(4).normal(size=800)
    x[700] += 6.0
    base = fitted(x[:500]).score(x)
    moved = fitted(x[:500] * factor + 7 * factor).score(x * factor + 7 * factor)
    np.testing.assert_allclose(moved, base, rtol=1e-6, equal_nan=True)


def test_channels_keep_their_own_predictor() -> None:
    rng = np.random.default_rng(5)
    x = np.column_stack([np.cumsum(rng.normal(size=1500)), rng.normal(size=1500)])
    det = fitted(x)
    assert det.lookback_[0] == 3 and det.lookback_[1] >= 16


def test_too_short_a_span_is_refused_clearly() -> None:
    x = np.full(300, np.nan)
    x[::2] = 1.0  # no point has a full lookback before it
    with pytest.raises(ValueError, match="training span of `residual` needs"):
        fitted(x)
