"""Matrix profile: stumpy's AB-join (the reference library), and what stumpy leaves open."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors.matrixprofile import MatrixProfile

stumpy = pytest.importorskip("stumpy", reason="the reference matrix profile (dev extra)")


def _series(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 24 + np.arange(channels)) + 0.2 * rng.normal(size=(n, channels))


@pytest.mark.parametrize("window", [5, 16, 40])
def test_equals_stumpys_ab_join(window: int) -> None:
    x = _series(400, 1, seed=window)
    x[330:335, 0] += 1.5
    det = MatrixProfile(window=window).fit(x[:250])
    want = stumpy.stump(x[:, 0], window, x[:250, 0], ignore_trivial=False)[:, 0]
    got = det.score(x)
    assert np.isnan(got[: window - 1]).all()
    # stumpy's sliding dot products lose ~sqrt(eps) near distance 0
    np.testing.assert_allclose(got[window - 1 :], want.astype(float), rtol=1e-7, atol=1e-6)


def test_multivariate_distance_joins_the_channels_z_normalised_one_by_one() -> None:
    x = _series(200, 2, seed=3)
    det = MatrixProfile(window=8).fit(x[:120])
    z = (x - det.mean_) / det.std_

    def znorm(w: np.ndarray) -> np.ndarray:
        return (w - w.mean(axis=0)) / w.std(axis=0)

    refs = [znorm(z[j : j + 8]) for j in range(120 - 8 + 1)]
    want = [min(np.linalg.norm(znorm(z[i - 7 : i + 1]) - r) for r in refs) for i in range(7, 200)]
    np.testing.assert_allclose(det.score(x)[7:], want, rtol=1e-9)


def test_one_huge_value_changes_only_the_windows_holding_it() -> None:
    x = _series(400, 1, seed=8)
    det = MatrixProfile(window=12).fit(x[:250])
    spiked = x.copy()
    spiked[320, 0] = 1e13
    before, after = det.score(x), det.score(spiked)
    holding = np.zeros(len(x), dtype=bool)
    holding[320 : 320 + 12] = True
    np.testing.assert_array_equal(after[~holding], before[~holding])
    assert (after[holding] > np.nanmax(before)).all()


def test_near_flat_windows_do_not_turn_rounding_noise_into_shapes() -> None:
    rng = np.random.default_rng(9)
    x = np.sin(np.arange(600) / 5.0)[:, None]
    x[450:] = 1000.0 + 1e-12 * rng.normal(size=(150, 1))  # flat with last-bit noise
    det = MatrixProfile(window=16).fit(np.vstack([x[:300], np.full((100, 1), 7.0)]))
    flat = det.score(x)[480:]
    assert np.nanmax(flat) < 0.01  # as near a flat training window as a flat window gets


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
