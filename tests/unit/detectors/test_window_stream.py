"""The compiled streaming pass of window detectors equals their array path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors import registry
from detectors._windows import STREAM_WINDOWS, WindowDetector, znorm_windows

CASES = [
    ("lof", {"window": 8, "n_neighbors": 5}),
    ("lof", {"window": 8, "n_neighbors": 5, "normalize": "window"}),
    ("lof", {"window": 1, "n_neighbors": 3}),
    ("subpca", {"window": 8}),
    ("subpca", {"window": 6, "normalize": "window"}),
]


def _series(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 25 + np.arange(channels)) + 0.2 * rng.normal(size=(n, channels))


def _fitted(name: str, params: dict[str, Any], channels: int) -> WindowDetector:
    det = registry.create(name, params).fit(_series(300, channels, seed=1))
    assert isinstance(det, WindowDetector)
    return det


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("name", "params"), CASES)
def test_stream_pass_equals_array_path(name: str, params: dict[str, Any], channels: int) -> None:
    det = _fitted(name, params, channels)
    x = _series(det.window - 1 + STREAM_WINDOWS, channels, seed=2) * 1.5
    x[det.window + 2, 0] = np.nan  # the windows holding it score NaN on both paths
    x[-1, -1] += 5.0
    stream, array = det._score_stream(x), det._score_array(x)
    np.testing.assert_array_equal(np.isnan(stream), np.isnan(array))
    # same features and neighbours; means and projections summed in another order
    np.testing.assert_allclose(stream, array, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("name", "params"), CASES[:2] + CASES[3:4])
def test_short_inputs_take_the_stream_pass(
    name: str, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    det = _fitted(name, params, 1)
    x = _series(det.window - 1 + STREAM_WINDOWS + 1, 1, seed=3)
    want = det.score(x)
    monkeypatch.setattr(type(det), "_score_array", lambda self, x: pytest.fail("array path"))
    got = det.score(x[1:])  # STREAM_WINDOWS windows
    np.testing.assert_allclose(got[det.window - 1 :], want[det.window :], rtol=1e-12)


def test_znorm_windows_standardises_each_window_and_channel() -> None:
    w = np.random.default_rng(4).normal(size=(50, 12)) * 3.0 + 2.0
    w[0] = 7.0  # flat: the floor keeps it at 0 instead of amplifying rounding noise
    v = w.reshape(50, 6, 2)
    want = (v - v.mean(axis=1, keepdims=True)) / np.maximum(v.std(axis=1, keepdims=True), 0.01)
    got = znorm_windows(w, 2)
    np.testing.assert_allclose(got, want.reshape(50, 12), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[0], 0.0)
