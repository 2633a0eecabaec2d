"""WindowLOF and the reusable lof_fit / lof_score against scikit-learn's LocalOutlierFactor."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import LocalOutlierFactor

from anomalyd.detectors._knn import SMALL_QUERY, knn
from anomalyd.detectors._windows import windows
from anomalyd.detectors.lof import WindowLOF, lof_fit, lof_score


def _series(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 30 + np.arange(channels)) + 0.3 * rng.normal(size=(n, channels))


@pytest.mark.parametrize(("channels", "window", "k"), [(1, 8, 5), (2, 6, 20), (1, 1, 3)])
def test_equals_sklearn_novelty_lof(channels: int, window: int, k: int) -> None:
    x = _series(600, channels, seed=window)
    x[500] += 4.0
    det = WindowLOF(window=window, n_neighbors=k).fit(x[:300])
    z = (x - det.mean_) / det.std_
    sk = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(windows(z[:300], window))
    want = -sk.score_samples(windows(z, window))
    got = det.score(x)[window - 1 :]
    assert np.max(np.abs(got - want)) < 1e-6
    np.testing.assert_allclose(det.lrd_, sk._lrd, rtol=1e-9)
    assert np.argmax(got) + window - 1 in range(500, 500 + window)


def test_lof_helpers_on_embeddings() -> None:
    rng = np.random.default_rng(1)
    ref, query = rng.normal(size=(400, 12)), rng.normal(size=(50, 12)) * 1.5
    k_distance, lrd = lof_fit(ref, 10)
    sk = LocalOutlierFactor(n_neighbors=10, novelty=True).fit(ref)
    got = lof_score(query, ref, k_distance, lrd, 10)
    np.testing.assert_allclose(got, -sk.score_samples(query), rtol=1e-9)
    np.testing.assert_allclose(k_distance, sk._distances_fit_X_[:, -1], rtol=1e-12)
    _, idx = knn(ref, ref, 10, exclude_self=True)  # the training points' own LOF
    np.testing.assert_allclose(lrd[idx].mean(1) / lrd, -sk.negative_outlier_factor_, rtol=1e-9)


def test_scores_are_about_one_inside_and_large_outside() -> None:
    x = _series(800, 1, seed=3)
    x[700] += 6.0
    s = WindowLOF(window=10, n_neighbors=10).fit(x[:400]).score(x)
    assert 0.8 < np.nanmedian(s[400:690]) < 1.3
    assert np.nanmax(s[700:710]) > 2.0


def test_too_few_training_windows_is_a_clear_error() -> None:
    x = _series(40, 1, seed=4)[:, 0]
    x[[14, 28]] = np.nan  # 17 windows without NaN left for 20 neighbours
    with pytest.raises(ValueError, match=r"`n_neighbors` \(20\) must be smaller than the number"):
        WindowLOF(window=8, n_neighbors=20).fit(x)


def test_min_train_points_counts_the_neighbours() -> None:
    with pytest.raises(ValueError, match="needs at least 28 points"):
        WindowLOF(window=8, n_neighbors=20).fit(_series(27, 1, seed=5))
    WindowLOF(window=8, n_neighbors=20).fit(_series(28, 1, seed=5))


def test_n_neighbors_below_max_train_windows() -> None:
    with pytest.raises(ValueError, match="must be smaller than `max_train_windows`"):
        WindowLOF(n_neighbors=10, max_train_windows=10).fit(_series(500, 1, seed=6))


def test_window_normalisation_ignores_level_shifts() -> None:
    x = _series(900, 1, seed=7)
    shifted = x.copy()
    shifted[600:] += 10.0
    plain = WindowLOF(window=16, n_neighbors=10).fit(x[:400])
    shape = WindowLOF(window=16, n_neighbors=10, normalize="window").fit(x[:400])
    assert np.nanmin(plain.score(shifted)[650:]) > 5.0
    np.testing.assert_allclose(shape.score(shifted)[650:], shape.score(x)[650:], rtol=1e-6)


def test_state_is_plain_arrays() -> None:
    det = WindowLOF(window=4, n_neighbors=3).fit(_series(100, 2, seed=8))
    assert set(det.state_arrays()) == {"mean_", "std_", "reference_", "k_distance_", "lrd_"}
    assert det.state_meta() == {"n_channels_": 2}


@pytest.mark.parametrize("n_query", [1, 5, SMALL_QUERY])
def test_small_query_path_equals_sklearn(n_query: int) -> None:
    """A few rows (streaming) take the compiled brute-force path; same LOF as scikit-learn."""
    rng = np.random.default_rng(n_query)
    ref, query = rng.normal(size=(300, 24)), rng.normal(size=(n_query, 24)) * 1.3
    query[0] = ref[7]  # an exact duplicate of a reference row: distance 0 ties
    k_distance, lrd = lof_fit(ref, 15)
    sk = LocalOutlierFactor(n_neighbors=15, novelty=True).fit(ref)
    got = lof_score(query, ref, k_distance, lrd, 15)
    np.testing.assert_allclose(got, -sk.score_samples(query), rtol=1e-9)
    padded = lof_score(
        np.vstack([query, ref[: SMALL_QUERY + 1 - n_query]]), ref, k_distance, lrd, 15
    )
    np.testing.assert_allclose(got, padded[:n_query], rtol=1e-12)  # the GEMM path
