"""APRE + MSS and the plain autoencoder: formula, mean shift, stacked training, detection."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from anomalyd.detectors import apre, load
from anomalyd.detectors._torch import n_weights
from anomalyd.detectors.apre import APRE, PlainAE, _pre_loss, layer_sizes, mss_reference, mss_shift


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def seasonal(n: int, seed: int, period: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (
        np.sin(2 * np.pi * t / period) + 0.5 * np.sin(2 * np.pi * t / 7) + 0.1 * rng.normal(size=n)
    )


# ------------------------------------------------------------------------- architecture
@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (1, (1, 1, 2)),
        (8, (8, 4, 16)),
        (64, (64, 32, 16, 32, 128)),
        (128, (128, 64, 32, 16, 32, 64, 256)),
        (256, (256, 128, 64, 16, 64, 128, 512)),
        (512, (512, 256, 128, 32, 128, 256, 1024)),
        (3520, (3520, 256, 256, 220, 256, 256, 7040)),  # 55 channels x 64: capped
    ],
)
def test_layer_sizes_follow_the_paper(d: int, expected: tuple[int, ...]) -> None:
    assert layer_sizes(d, 2 * d) == expected
    if d <= 513:  # the cap does not bind: the paper's widths either way
        assert layer_sizes(d, 2 * d, max_hidden=None) == expected


# ------------------------------------------------------------------------- APRE formula
def _tiny(det: APRE | PlainAE, weights: list[float]) -> None:
    """Fitted state by hand: window 2, one channel, z-scoring mean 1 and std 2."""
    det.n_channels_ = 1
    det.mean_, det.std_ = np.array([1.0]), np.array([2.0])
    det.weights_ = np.array(weights)


def _by_hand(
    z: list[float], w: list[float], alpha: float, beta: float, target: list[float]
) -> float:
    """Network d=2 -> 1 -> 4: W1 (2x1), b1, W2 (1x4), b2 (4), ReLU on the latent."""
    h = max(0.0, z[0] * w[0] + z[1] * w[1] + w[2])
    out = [h * w[3 + j] + w[7 + j] for j in range(4)]
    var = [math.log1p(math.exp(r)) + 1e-5 for r in out[2:]]
    err = sum((target[j] - out[j]) ** 2 / var[j] for j in range(2))
    return alpha * err + beta * sum(math.log(v) for v in var)


def test_apre_score_equals_hand_computation() -> None:
    w = [0.5, -1.0, 0.2, 1.5, -0.5, 0.3, -2.0, 0.1, 0.2, -0.4, 0.6]
    assert len(w) == n_weights((2, 1, 4))
    det = APRE(window=2, alpha=0.7, beta=1.3, mss_rounds=0)
    _tiny(det, w)
    det.ref_ = np.empty((0, 1, 2))
    x = np.array([1.0, 3.0, -2.0, 0.5])
    got = det.score(x)
    assert np.isnan(got[0])
    for t in range(1, 4):
        z = [(x[t - 1] - 1) / 2, (x[t] - 1) / 2]
        assert got[t] == pytest.approx(_by_hand(z, w, 0.7, 1.3, z), rel=1e-12)


def test_apre_target_is_the_mean_shifted_window() -> None:
    w = [0.5, -1.0, 0.2, 1.5, -0.5, 0.3, -2.0, 0.1, 0.2, -0.4, 0.6]
    det = APRE(window=2, alpha=0.5, beta=2.0, mss_rounds=1, mss_k=2)
    _tiny(det, w)
    ref = np.array([[0.0, 0.0], [3.0, 3.0], [-1.0, 1.0]])
    det.ref_ = ref[None]
    got = det.score(np.array([2.0, 4.0]))[1]
    z = [0.5, 1.5]  # nearest reference point: (0, 0) -> target = mean of z and (0, 0)
    assert got == pytest.approx(_by_hand(z, w, 0.5, 2.0, [0.25, 0.75]), rel=1e-12)


def test_plain_ae_scores_squared_reconstruction_error() -> None:
    det = PlainAE(window=2)
    w = [0.5, -1.0, 0.2, 1.5, -0.5, 0.1, 0.2]  # 2 -> 1 -> 2
    _tiny(det, w)
    x = np.array([1.0, 3.0, -2.0])
    for t, got in zip((1, 2), det.score(x)[1:], strict=True):
        z = [(x[t - 1] - 1) / 2, (x[t] - 1) / 2]
        h = max(0.0, z[0] * w[0] + z[1] * w[1] + w[2])
        mu = [h * w[3] + w[5], h * w[4] + w[6]]
        assert got == pytest.approx(sum((a - b) ** 2 for a, b in zip(z, mu, strict=True)))


def test_pre_loss_gradient_equals_autograd_of_the_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(3, 5, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    x = torch.randn(3, 5, 4, dtype=torch.float64, generator=gen)

    def formula(o: torch.Tensor) -> torch.Tensor:
        mu, r = o.chunk(2, dim=-1)
        var = torch.nn.functional.softplus(r) + 1e-5
        return ((x - mu) ** 2 / var + var.log()).mean(dim=-1)

    torch.testing.assert_close(_pre_loss(out, x), formula(out))
    assert torch.autograd.gradcheck(lambda o: _pre_loss(o, x), (out,))


# ------------------------------------------------------------------------- MSS
def _literal_levels(z: np.ndarray, pos: np.ndarray, k: int, rounds: int, window: int) -> list:
    levels = [z]
    for _ in range(rounds - 1):
        prev, new = levels[-1], np.empty_like(levels[-1])
        for i in range(len(prev)):
            dist = [
                (float(np.sum((prev[i] - prev[j]) ** 2)), j)
                for j in range(len(prev))
                if j != i and abs(pos[i] - pos[j]) >= window
            ]
            chosen = [j for _, j in sorted(dist)[: k - 1]]
            new[i] = (prev[i] + prev[chosen].sum(axis=0)) / (1 + len(chosen))
        levels.append(new)
    return levels


def _literal_shift(q: np.ndarray, levels: list, k: int) -> np.ndarray:
    out = q.copy()
    for level in levels:
        for i in range(len(out)):
            order = np.argsort(((level - out[i]) ** 2).sum(axis=1), kind="stable")[: k - 1]
            out[i] = (out[i] + level[order].sum(axis=0)) / k
    return out


@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_mss_equals_literal_implementation(rounds: int) -> None:
    rng = np.random.default_rng(rounds)
    z = rng.normal(size=(40, 3))
    pos = np.sort(rng.choice(120, size=40, replace=False))  # some windows overlap, some not
    want = _literal_levels(z, pos, k=5, rounds=rounds, window=4)
    got = mss_reference(z, pos, k=5, rounds=rounds, window=4)
    assert got.shape == (rounds, 40, 3)
    np.testing.assert_allclose(got, np.stack(want), atol=1e-12)
    q = rng.normal(size=(15, 3)) * 2
    np.testing.assert_allclose(mss_shift(q, got, 5), _literal_shift(q, want, 5), atol=1e-12)


def test_mss_moves_an_outlier_towards_the_data() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    levels = mss_reference(z, np.arange(200) * 10, k=10, rounds=2, window=4)
    far = np.array([[6.0, 6.0]])
    assert np.linalg.norm(mss_shift(far, levels, 10)) < np.linalg.norm(far)


# ------------------------------------------------------------------------- stacked training
def test_fit_many_stacked_equals_one_by_one() -> None:
    params: dict[str, Any] = {"window": 10, "epochs": 4, "batch_size": 32, "seed": 5}
    xs = [seasonal(150, 1), seasonal(260, 2), seasonal(90, 3)]
    xs.append(np.stack([seasonal(120, 4), seasonal(120, 5)], axis=1))  # other shape, own group
    dets = APRE.fit_many([(APRE(**params), x) for x in xs])
    for det, x in zip(dets, xs, strict=True):
        alone = APRE(**params).fit(x)
        np.testing.assert_allclose(det.weights_, alone.weights_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(det.score(x), alone.score(x), atol=1e-8, equal_nan=True)


def test_fit_many_leaves_all_unfitted_when_one_fails() -> None:
    a, b = PlainAE(window=8, epochs=1), PlainAE(window=8, epochs=1)
    with pytest.raises(ValueError, match="needs at least"):
        PlainAE.fit_many([(a, seasonal(100, 0)), (b, seasonal(5, 0))])
    assert not hasattr(a, "n_channels_")


# ------------------------------------------------------------------------- parameters
def test_alpha_and_beta_not_both_zero() -> None:
    with pytest.raises(ValueError, match="`alpha` and `beta` cannot both be 0"):
        APRE(window=8, alpha=0.0, beta=0.0).fit(seasonal(200, 0))


def test_mss_k_at_most_max_train_windows() -> None:
    with pytest.raises(ValueError, match="`mss_k` \\(30\\) must not exceed `max_train_windows`"):
        APRE(window=8, mss_k=30, max_train_windows=20).fit(seasonal(200, 0))


def test_cuda_refused_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="`device` is 'cuda' but torch sees no CUDA device"):
        APRE(window=8, device="cuda").fit(seasonal(200, 0))


def test_too_few_windows_without_nan() -> None:
    x = seasonal(300, 0)
    x[::6] = np.nan  # plenty of points, no window of 8 without NaN
    with pytest.raises(ValueError, match="needs at least 20 windows of 8 points"):
        APRE(window=8).fit(x)


def test_training_windows_are_capped_evenly() -> None:
    det = APRE(window=8, epochs=1, max_train_windows=50, mss_k=5).fit(seasonal(400, 0))
    assert det.n_train_windows_ == 50
    assert det.ref_.shape == (1, 50, 8)


def test_round_trip_without_mean_shift(tmp_path: Path) -> None:
    x = seasonal(200, 0)
    det = APRE(window=8, epochs=2, mss_rounds=0).fit(x)
    assert det.ref_.shape == (0, 193, 8)
    det.save(tmp_path)
    np.testing.assert_array_equal(load(tmp_path).score(x), det.score(x))


# ------------------------------------------------------------------------- detection
def test_apre_finds_injected_anomalies() -> None:
    x = seasonal(1600, 7)
    labels = np.zeros(1600, dtype=bool)
    for start, kind in ((1000, "spike"), (1200, "shift"), (1400, "flat")):
        if kind == "spike":
            x[start] += 3.0
        elif kind == "shift":
            x[start : start + 20] += 1.5
        else:
            x[start : start + 30] = x[start]
        labels[start : start + (1 if kind == "spike" else 30) + 15] = True
    det = APRE(window=16, epochs=100, seed=1).fit(x[:800])
    s = det.score(x)[800:]
    auc = roc_auc_score(labels[800:], s)
    assert auc > 0.8, auc


def test_a_fit_saved_before_the_width_cap_loads_and_scores_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.column_stack([seasonal(600, 0), seasonal(600, 1)])  # d = 2 x 300: the cap binds
    monkeypatch.setattr(apre.layer_sizes, "__defaults__", (None,))  # the widths as they were
    det = PlainAE(window=300, epochs=1, seed=0).fit(x)
    uncapped = n_weights(layer_sizes(600, 600, max_hidden=None))
    assert len(det.weights_) == uncapped
    want = det.score(x)
    det.save(tmp_path / "old")
    monkeypatch.undo()
    assert n_weights(PlainAE(window=300, epochs=1, seed=0).fit(x)._sizes()) < uncapped
    np.testing.assert_allclose(load(tmp_path / "old").score(x), want)


def test_a_refit_on_more_channels_trains_the_capped_layout() -> None:
    x = np.column_stack([seasonal(600, 0), seasonal(600, 1), seasonal(600, 2)])
    det = PlainAE(window=300, epochs=1, seed=0).fit(x[:, :2])
    det.fit(x)  # d = 900: the capped widths, as a fresh detector's
    assert len(det.weights_) == len(PlainAE(window=300, epochs=1, seed=0).fit(x).weights_)
    assert len(det.weights_) == n_weights(layer_sizes(900, 900))
