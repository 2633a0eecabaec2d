"""sliding_window: TSB-AD's ``find_length_rank(data, rank=1)`` period estimate."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anomalyd.metrics.window import DEFAULT_WINDOW, autocorrelation, next_regular, sliding_window

BENCHMARK = Path(__file__).resolve().parents[3].parent / "shared" / "benchmark"
TSBAD_RUNS = BENCHMARK / "reference" / "tsbad_detectors_this_split_dev.csv"


def _sine(period: float, n: int = 3000, noise: float = 0.0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(0)
    return np.sin(2 * np.pi * t / period) + noise * rng.normal(size=n)


# Expected values are what TSB-AD's find_length_rank returns on the same inputs.
@pytest.mark.parametrize(
    ("period", "noise", "expected"),
    [
        (6, 0.0, 6),
        (24, 0.0, 24),
        (50, 0.1, 50),
        (100, 0.0, 100),
        (250, 0.1, 249),
        (303, 0.0, 303),  # largest period it reports
        (304, 0.0, DEFAULT_WINDOW),  # peak beyond lag 303: default
        (5, 0.0, DEFAULT_WINDOW),  # peak below lag 6: default
    ],
)
def test_sine_period(period: int, noise: float, expected: int) -> None:
    assert sliding_window(_sine(period, noise=noise)) == expected


@pytest.mark.parametrize(
    "values",
    [np.full(100, 3.0), np.array([1.0, 2.0, 1.0]), np.array([5.0]), np.arange(1000.0)],
    ids=["constant", "three-points", "one-point", "trend"],
)
def test_no_usable_peak_gives_default(values: np.ndarray) -> None:
    assert sliding_window(values) == DEFAULT_WINDOW


@pytest.mark.parametrize(("seed", "expected"), [(0, 188), (1, 149), (2, 15), (3, 125), (4, 70)])
def test_white_noise_gives_highest_spurious_peak_like_tsbad(seed: int, expected: int) -> None:
    """On white noise TSB-AD does not fall back to 125: it reports its highest ACF bump."""
    noise = np.random.default_rng(seed).normal(size=3000)
    assert sliding_window(noise) == expected


def test_only_first_20000_points_count() -> None:
    head = _sine(40, n=20_000)
    assert sliding_window(np.concatenate([head, _sine(90, n=30_000)])) == sliding_window(head)


def test_two_dimensional_input_uses_first_channel() -> None:
    first, second = _sine(40), _sine(70)
    assert sliding_window(first[:, None]) == 40
    assert sliding_window(np.column_stack([first, second])) == 40
    assert sliding_window(np.column_stack([second, first])) == 70


def test_autocorrelation_is_biased_demeaned_acf() -> None:
    """Same numbers as the textbook definition (statsmodels' acf, fft=True)."""
    x = np.random.default_rng(3).normal(size=700).cumsum()
    centred = x - x.mean()
    n = len(x)
    direct = np.array([centred[: n - k] @ centred[k:] / n for k in range(401)])
    np.testing.assert_allclose(autocorrelation(x, 400), direct / direct[0], rtol=0, atol=1e-12)
    assert len(autocorrelation(x[:50], 400)) == 50  # shorter series: fewer lags


def _unscaled_acf(series: np.ndarray, max_lag: int) -> np.ndarray:
    """statsmodels' FFT ACF computed on the values as given (overflows near 1e300)."""
    n = series.shape[0]
    centred = series - series.mean()
    spectrum = np.fft.fft(centred, n=next_regular(2 * n + 1))
    autocov = (np.fft.ifft(spectrum * np.conjugate(spectrum))[:n] / np.full(n, float(n))).real
    return autocov[: max_lag + 1] / autocov[0]


@pytest.mark.parametrize("scale", [1e-5, 3.0, 7.1e6, 1e150])
def test_autocorrelation_has_the_unscaled_bits_on_ordinary_data(scale: float) -> None:
    x = _sine(37, noise=0.5) * scale + 2.5 * scale
    np.testing.assert_array_equal(autocorrelation(x, 400), _unscaled_acf(x, 400))


@pytest.mark.parametrize("scale", [2.0**-1000, 1e-300, 1e300])
def test_autocorrelation_near_the_float_limits(scale: float) -> None:
    """No overflow or underflow near 1e300 or 1e-300 (squares of such values leave float
    range); the ACF and the window of the series itself."""
    x = _sine(37, noise=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = autocorrelation(x * scale, 400)
    np.testing.assert_allclose(got, autocorrelation(x, 400), rtol=0, atol=1e-12)
    assert sliding_window(x * scale) == sliding_window(x) != DEFAULT_WINDOW


def test_next_regular_is_smallest_5_smooth() -> None:
    def smooth(k: int) -> bool:
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        return k == 1

    for target in range(1, 2000):
        expected = next(k for k in range(target, 4 * target) if smooth(k))
        assert next_regular(target) == expected


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([], "empty"),
        (np.zeros((0, 2)), "empty"),
        (np.zeros((5, 0)), "no channel"),
        ([1.0, math.nan, 2.0], "NaN or inf"),
        ([1.0, math.inf, 2.0], "NaN or inf"),
        (np.zeros((2, 2, 2)), "1-D series or a 2-D"),
        (["a", "b"], "numeric"),
    ],
)
def test_invalid_values_raise_clear_error(values: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sliding_window(values)


def _tsbad_windows() -> dict[str, int]:
    """Per-series VUS window TSB-AD used, from its runs on this benchmark split."""
    with TSBAD_RUNS.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sliding_window"]]
    windows: dict[str, set[int]] = {}
    for row in rows:
        windows.setdefault(row["series"], set()).add(int(float(row["sliding_window"])))
    assert all(len(w) == 1 for w in windows.values())
    return {name: w.pop() for name, w in windows.items()}


@pytest.mark.benchmark_data
@pytest.mark.skipif(not TSBAD_RUNS.exists(), reason="../shared/benchmark is absent")
def test_matches_tsbad_windows_on_benchmark() -> None:
    """Whole series (training prefix + test part) in, TSB-AD's window out, every series."""
    expected = _tsbad_windows()
    manifest = json.loads((BENCHMARK / "manifest.json").read_text())
    by_name = {s["name"]: s for s in manifest["series"]}
    assert len(expected) >= 100
    got = {}
    for name in expected:
        path = BENCHMARK / by_name[name]["file"]
        got[name] = sliding_window(np.loadtxt(path, delimiter=",", skiprows=1, usecols=1))
    assert got == expected
