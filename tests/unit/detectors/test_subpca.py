"""SubPCA: same subspace and reconstruction error as scikit-learn's PCA, component rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from anomalyd.detectors._windows import windows
from anomalyd.detectors.subpca import SubPCA, n_components_for


def _series(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 24 + np.arange(channels)) + 0.2 * rng.normal(size=(n, channels))


@pytest.mark.parametrize(("channels", "window", "fraction"), [(1, 16, 0.9), (3, 5, 0.5)])
def test_equals_sklearn_reconstruction_error(channels: int, window: int, fraction: float) -> None:
    x = _series(700, channels, seed=window)
    det = SubPCA(window=window, n_components=fraction).fit(x[:400])
    w = windows((x - det.mean_) / det.std_, window)
    pca = PCA(n_components=fraction, svd_solver="full").fit(w[: 400 - window + 1])
    want = ((w - pca.inverse_transform(pca.transform(w))) ** 2).sum(axis=1)
    assert det.components_.shape[0] == pca.n_components_ < w.shape[1]
    np.testing.assert_allclose(det.score(x)[window - 1 :], want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    ("ratios", "fraction", "want"),
    [([0.5, 0.3, 0.2], 0.5, 2), ([0.5, 0.3, 0.2], 0.49, 1), ([0.5, 0.3, 0.2], 0.81, 3)],
)
def test_component_rule(ratios: list[float], fraction: float, want: int) -> None:
    assert n_components_for(np.array(ratios), fraction) == want


def test_keeps_a_residual_direction() -> None:
    """A pure sine spans 2 dimensions: even 0.999 leaves at least one residual component."""
    x = np.sin(np.arange(300) / 3.0)
    det = SubPCA(window=4, n_components=0.999).fit(x)
    assert det.components_.shape == (2, 4)
    bumped = x.copy()
    bumped[200] += 1.0
    s = det.score(bumped)
    assert np.nanmax(s[:200]) < 1e-12 < s[200]


def test_flags_a_changed_shape() -> None:
    x = _series(600, 1, seed=2)[:, 0]
    x[500:508] = x[500]  # the wave stops for a few points
    s = SubPCA(window=24).fit(x[:300]).score(x)
    assert np.nanargmax(s) in range(500, 532)
    assert np.nanmax(s) > 5 * np.nanmedian(s[300:480])


def test_window_normalisation_ignores_level_and_scale() -> None:
    x = _series(600, 2, seed=3)
    det = SubPCA(window=12, normalize="window").fit(x[:300])
    np.testing.assert_allclose(det.score(2 * x - 4)[300:], det.score(x)[300:], atol=1e-8)


def test_state_is_plain_arrays() -> None:
    det = SubPCA(window=6).fit(_series(200, 1, seed=4))
    assert set(det.state_arrays()) == {"mean_", "std_", "center_", "components_"}
    assert det.state_meta() == {"n_channels_": 1}
