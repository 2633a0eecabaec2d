"""k-means on windows: scikit-learn's centroids and distances, shapes under z-normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from anomalyd.detectors._windows import windows, znorm_windows
from anomalyd.detectors.kmeans import WindowKMeans


def _series(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 24 + np.arange(channels)) + 0.2 * rng.normal(size=(n, channels))


@pytest.mark.parametrize(("channels", "window", "normalize"), [(1, 16, "none"), (2, 6, "window")])
def test_equals_sklearn_distance_to_nearest_centroid(
    channels: int, window: int, normalize: str
) -> None:
    x = _series(700, channels, seed=window)
    det = WindowKMeans(window=window, n_clusters=7, seed=2, normalize=normalize).fit(x[:400])
    w = windows((x - det.mean_) / det.std_, window)
    if normalize == "window":
        w = znorm_windows(w, channels)
    ref = KMeans(n_clusters=7, n_init=1, random_state=2).fit(w[: 400 - window + 1])
    np.testing.assert_allclose(det.cluster_centers_, ref.cluster_centers_, rtol=1e-12)
    want = ref.transform(w).min(axis=1)
    np.testing.assert_allclose(det.score(x)[window - 1 :], want, rtol=1e-8, atol=1e-10)


def test_fewer_windows_than_clusters_keeps_one_centroid_per_window() -> None:
    x = _series(20, 1, seed=0)
    det = WindowKMeans(window=8, n_clusters=20).fit(x)
    assert det.cluster_centers_.shape == (13, 8)
    assert np.allclose(det.score(x)[7:], 0.0, atol=1e-9)


def test_a_new_shape_scores_above_the_recurring_ones() -> None:
    x = _series(600, 1, seed=4)
    det = WindowKMeans(window=24, n_clusters=10, normalize="window").fit(x[:400])
    probe = x.copy()
    probe[500:512, 0] = probe[499, 0]  # half a cycle held flat: a shape never seen
    normal = det.score(x)[450:600]
    assert det.score(probe)[511] > np.nanmax(normal)
