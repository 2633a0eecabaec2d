"""Matrix profile: the AB-join against the training span, checked against a brute-force one."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors.matrixprofile import MatrixProfile


def _series(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 24 + np.arange(channels)) + 0.2 * rng.normal(size=(n, channels))


def _brute_force(values: np.ndarray, train: np.ndarray, m: int) -> np.ndarray:
    """Nearest z-normalised Euclidean distance of every window of ``values`` to every window
    of ``train``, over sqrt(m): the definition, one pair at a time (no constant windows)."""

    def znorm(w: np.ndarray) -> np.ndarray:
        return (w - w.mean()) / w.std()

    refs = [znorm(train[j : j + m]) for j in range(len(train) - m + 1)]
    out = [
        min(np.linalg.norm(znorm(values[i : i + m]) - r) for r in refs)
        for i in range(len(values) - m + 1)
    ]
    return np.array(out) / np.sqrt(m)


@pytest.mark.parametrize("window", [5, 16])
def test_equals_the_brute_force_nearest_neighbour_distance(window: int) -> None:
    x = _series(300, 1, seed=window)
    det = MatrixProfile(window=window).fit(x[:200])
    z = ((x - det.mean_) / det.std_)[:, 0]
    want = _brute_force(z, z[:200], window)
    got = det.score(x)
    assert np.isnan(got[: window - 1]).all()
    np.testing.assert_allclose(got[window - 1 :], want, rtol=1e-7, atol=1e-6)  # sqrt(eps) near 0


def test_multivariate_score_is_the_mean_of_the_channels() -> None:
    x = _series(260, 2, seed=3)
    both = MatrixProfile(window=8).fit(x[:180]).score(x)
    each = [MatrixProfile(window=8).fit(x[:180, [c]]).score(x[:, [c]]) for c in range(2)]
    np.testing.assert_allclose(both, np.mean(each, axis=0), atol=1e-6, equal_nan=True)


def test_scores_do_not_depend_on_scale_or_offset() -> None:
    x = _series(300, 1, seed=5)
    x[250:255] += 2.0
    base = MatrixProfile(window=12).fit(x[:200]).score(x)
    for scale, offset in [(1e15, 0.0), (1e-12, 3e-12), (-2.0, 1e6)]:
        y = scale * x + offset
        got = MatrixProfile(window=12).fit(y[:200]).score(y)
        np.testing.assert_allclose(got, base, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_a_discord_scores_above_every_recurring_shape() -> None:
    x = _series(600, 1, seed=4)
    det = MatrixProfile(window=24).fit(x[:400])
    probe = x.copy()
    probe[500:512, 0] = probe[499, 0]  # half a cycle held flat: a shape never seen
    assert det.score(probe)[511] > np.nanmax(det.score(x)[450:600])


def test_keeps_only_the_last_training_points() -> None:
    x = _series(500, 1, seed=6)
    det = MatrixProfile(window=8, max_train_points=100).fit(x)
    assert det.train_.shape == (100, 1)
    np.testing.assert_array_equal(det.train_[:, 0], ((x - det.mean_) / det.std_)[-100:, 0])


def test_a_channel_without_two_complete_windows_is_refused() -> None:
    x = _series(40, 2, seed=7)
    x[::6, 1] = np.nan
    with pytest.raises(ValueError, match="at least 2 training windows without NaN.*channel 1"):
        MatrixProfile(window=8).fit(x)
