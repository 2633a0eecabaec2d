"""THEMIS specifics: parameters, model loading, encoder batch invariance, scorers, streaming.

Every test runs on a tiny random Chronos-Bolt checkpoint (``chronos_tiny.py``): these check
the plumbing and the exactness contract, never the quality of pretrained Chronos.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("chronos", reason="needs the `chronos` extra")

from anomalyd.detectors import StreamScorer, _chronos, registry  # noqa: E402
from anomalyd.detectors.themis import Themis, _spectral_rows  # noqa: E402
from tests.unit.detectors.chronos_tiny import MODEL_ENV, build_tiny_chronos_bolt  # noqa: E402

FAST: dict[str, Any] = {"window": 32, "stride": 1, "seed": 3}


@pytest.fixture(autouse=True)
def _tiny(tiny_chronos: Path) -> None:
    """Every test here uses the tiny checkpoint (and one torch thread)."""


@pytest.fixture
def series() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(400)
    x = np.sin(2 * np.pi * t / 25) + 0.1 * rng.normal(size=400)
    x[300] += 4.0
    return x


# ---------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": 15}, r"^`window` must be an int in \[16, 2048\]. Got 15 instead.$"),
        ({"window": 4096}, r"^`window` must be an int in \[16, 2048\]. Got 4096 instead.$"),
        ({"window": 32.0}, r"^`window` must be an int in .* Got 32.0 instead.$"),
        ({"stride": 0}, r"^`stride` must be an int >= 1. Got 0 instead.$"),
        ({"n_neighbors": 0}, r"^`n_neighbors` must be an int >= 1. Got 0 instead.$"),
        ({"n_components": 0}, r"^`n_components` must be an int >= 1. Got 0 instead.$"),
        ({"scorer": "rank"}, r"^`scorer` must be one of 'both', 'lof', 'spectral'. Got 'rank'"),
        ({"max_train_windows": 1}, r"^`max_train_windows` must be an int in \[2, 10000\]"),
        ({"max_train_windows": 20001}, r"^`max_train_windows` must be .* Got 20001 instead.$"),
        ({"model": 7}, r"^`model` must be a str. Got 7 instead.$"),
        ({"device": "tpu"}, r"^`device` must be one of 'auto', 'cpu', 'cuda'. Got 'tpu'"),
        ({"batch_size": 0}, r"^`batch_size` must be an int in \[1, 4096\]. Got 0 instead.$"),
        ({"batch_size": 5000}, r"^`batch_size` must be an int in \[1, 4096\]. Got 5000"),
        ({"seed": -1}, r"^`seed` must be an int >= 0. Got -1 instead.$"),
        ({"seed": True}, r"^`seed` must be an int >= 0. Got True instead.$"),
        (
            {"n_neighbors": 50, "max_train_windows": 50},
            r"^`n_neighbors` must be < `max_train_windows` \(50\). Got 50 instead.$",
        ),
        (
            {"n_components": 60, "max_train_windows": 40},
            r"^`n_components` must be < `max_train_windows` \(40\). Got 60 instead.$",
        ),
    ],
)
def test_parameter_errors(params: dict[str, Any], message: str, series: np.ndarray) -> None:
    with pytest.raises(ValueError, match=message):
        Themis(**{**FAST, **params}).fit(series[:200])


def test_min_train_points_follow_stride_and_neighbours(series: np.ndarray) -> None:
    det = Themis(window=32, stride=4, n_neighbors=20, n_components=10)
    assert det.min_train_points() == 31 + 4 * 21
    with pytest.raises(ValueError, match="needs at least 115 points"):
        det.fit(series[:114])


def test_training_gaps_give_a_clear_error(series: np.ndarray) -> None:
    x = series[:200].copy()
    x[20::25] = np.nan  # enough points, but no NaN-free window of 32
    with pytest.raises(ValueError, match="channel 0 only 0 NaN-free reference windows"):
        Themis(**FAST).fit(x)
    x = series[:200].copy()
    x[60:200:30] = np.nan  # 29 NaN-free windows (starts 0..28), 15 references at stride 2
    with pytest.raises(ValueError, match="only 15 NaN-free reference windows; THEMIS needs 21"):
        Themis(**{**FAST, "stride": 2}).fit(x)


# ---------------------------------------------------------------------- model loading
def test_missing_chronos_extra(monkeypatch: pytest.MonkeyPatch, series: np.ndarray) -> None:
    monkeypatch.setitem(sys.modules, "chronos", None)
    with pytest.raises(ImportError, match=r"pip install 'anomalyd\[chronos\]'"):
        Themis(**FAST, model="/not/loaded/yet").fit(series[:200])


@pytest.mark.parametrize("model", ["/no/such/chronos-dir", "amazon/chronos-bolt-not-cached"])
def test_unloadable_model_says_how_to_get_weights(
    model: str, monkeypatch: pytest.MonkeyPatch, series: np.ndarray
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never wait on the unreachable Hub
    with pytest.raises(_chronos.ModelUnavailableError, match="huggingface-cli download .*model="):
        Themis(**FAST, model=model).fit(series[:200])


def test_an_unreachable_hub_is_named_without_waiting_on_its_retries(
    monkeypatch: pytest.MonkeyPatch, series: np.ndarray, tmp_path: Path
) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(_chronos.ModelUnavailableError, match="Hub at http://127.0.0.1:.* unreach"):
        Themis(**FAST, model="amazon/chronos-bolt-not-cached").fit(series[:200])


def test_cuda_without_cuda_is_refused(series: np.ndarray) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        Themis(**FAST, device="cuda").fit(series[:200])


def test_env_redirects_only_the_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_ENV, "/somewhere/tiny")
    assert _chronos.resolve_model(_chronos.DEFAULT_MODEL) == "/somewhere/tiny"
    assert _chronos.resolve_model("/my/model") == "/my/model"
    monkeypatch.delenv(MODEL_ENV)
    assert _chronos.resolve_model(_chronos.DEFAULT_MODEL) == _chronos.DEFAULT_MODEL


def test_encoder_is_loaded_once_per_model_and_device(tiny_chronos: Path) -> None:
    first = _chronos.encoder(str(tiny_chronos), "cpu")
    assert _chronos.encoder(_chronos.DEFAULT_MODEL, "cpu") is first  # env -> same path
    assert _chronos.encoder(str(tiny_chronos), "cpu") is first


def test_other_weights_are_refused_at_score_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, series: np.ndarray
) -> None:
    det = Themis(**FAST).fit(series[:200])
    monkeypatch.setenv(MODEL_ENV, str(build_tiny_chronos_bolt(tmp_path / "other", seed=1)))
    with pytest.raises(ValueError, match="fitted with encoder weights .* load the same"):
        det.score(series)


# ---------------------------------------------------------------------- embeddings
def test_embeddings_match_the_pipeline_and_ignore_batching(tiny_chronos: Path) -> None:
    import torch
    from chronos import BaseChronosPipeline

    x = np.random.default_rng(0).normal(size=(37, 40))
    enc = _chronos.encoder(str(tiny_chronos), "cpu")
    emb = enc.embed(x, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-12)
    pipe = BaseChronosPipeline.from_pretrained(str(tiny_chronos), device_map="cpu")
    tokens, _ = pipe.embed(torch.tensor(x, dtype=torch.float32))  # [37, 3 patches + REG, d]
    mean = tokens[:, :-1].mean(dim=1).double().numpy()
    np.testing.assert_allclose(emb, mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-5)
    alone = np.concatenate([enc.embed(x[i : i + 1], 16) for i in range(len(x))])
    np.testing.assert_array_equal(alone, emb)  # fixed chunk shape: bit-identical
    np.testing.assert_array_equal(enc.embed(x[::-1], 16)[::-1], emb)


def test_reference_windows_are_stratified_and_seeded(series: np.ndarray) -> None:
    x = series[:, None]
    ref = Themis(window=32, stride=10, seed=0)._reference_windows(x, 0)
    every = np.lib.stride_tricks.sliding_window_view(series, 32)
    starts = np.array([np.flatnonzero((every == r).all(axis=1))[0] for r in ref])
    assert len(ref) == 37  # 369 windows: one per block of 10
    np.testing.assert_array_equal(starts // 10, np.arange(37))
    assert len(set(starts % 10)) > 3  # random offsets: seasonality cannot alias the sample
    again = Themis(window=32, stride=10, seed=0)._reference_windows(x, 0)
    np.testing.assert_array_equal(ref, again)
    other = Themis(window=32, stride=10, seed=1)._reference_windows(x, 0)
    assert not np.array_equal(ref, other)
    capped = Themis(window=32, stride=1, max_train_windows=50)._reference_windows(x, 0)
    assert len(capped) == 50


# ---------------------------------------------------------------------- scorers
def _unit(a: np.ndarray) -> np.ndarray:
    out: np.ndarray = a / np.linalg.norm(a, axis=-1, keepdims=True)
    return out


def test_spectral_residual_matches_the_full_matrix() -> None:
    ref = _unit(np.random.default_rng(0).normal(size=(30, 8)))
    sim = np.abs(ref @ ref.T)
    val, vec = np.linalg.eigh(sim)
    vec, val = vec[:, -3:], val[-3:]
    # a training row: the rank-3 residual of row i of |S|, its diagonal entry counted again
    # as the "own entry" of a new point (the Nystrom extension is exact in sample)
    recon = vec @ np.diag(val) @ vec.T
    expect = np.sqrt(((sim - recon) ** 2).sum(axis=1) + (1.0 - np.diag(recon)) ** 2)
    np.testing.assert_allclose(_spectral_rows(sim, vec, val), expect, atol=1e-12)


def test_spectral_residual_flags_an_off_pattern_window() -> None:
    rng = np.random.default_rng(1)
    base = _unit(rng.normal(size=(2, 16)))
    ref = _unit(base[rng.integers(0, 2, 200)] + 0.05 * rng.normal(size=(200, 16)))
    val, vec = np.linalg.eigh(np.abs(ref @ ref.T))
    inlier = _unit(base[0] + 0.05 * rng.normal(size=16))[None]
    outlier = _unit(rng.normal(size=(1, 16)))
    score = [_spectral_rows(np.abs(q @ ref.T), vec[:, -2:], val[-2:])[0] for q in (inlier, outlier)]
    assert score[1] > 5 * score[0]


def test_scorer_both_is_the_mean_of_lof_and_spectral(series: np.ndarray) -> None:
    scores = {
        s: Themis(**FAST, scorer=s).fit(series[:200]).score(series)
        for s in ("lof", "spectral", "both")
    }
    np.testing.assert_allclose(scores["both"], (scores["lof"] + scores["spectral"]) / 2, atol=1e-12)
    normal = scores["both"][200:290]
    assert np.nanmax(scores["both"][300:332]) > np.nanmax(normal)


def test_training_scores_are_standardised(series: np.ndarray) -> None:
    det = Themis(**FAST).fit(series[:200])
    assert det.center_.shape == det.scale_.shape == (1, 2)
    assert (det.scale_ > 0).all()


# ---------------------------------------------------------------------- exactness
def test_streaming_point_by_point_equals_batch(series: np.ndarray) -> None:
    det = Themis(**FAST, batch_size=8).fit(series[:200])
    batch = det.score(series)
    stream = StreamScorer(det, context=series[:100])
    got = np.concatenate([stream.update(c) for c in np.split(series[100:], [1, 2, 9, 60, 61])])
    np.testing.assert_allclose(got, batch[100:], atol=1e-9)


def test_score_many_groups_different_windows(series: np.ndarray) -> None:
    a = Themis(**FAST).fit(series[:200])
    b = Themis(**{**FAST, "window": 48}).fit(series[:200])
    x2 = series[::-1].copy()
    got = Themis.score_many([(a, series), (b, x2), (a, x2)])
    for out, det, x in zip(got, (a, b, a), (series, x2, x2), strict=True):
        np.testing.assert_array_equal(out, det.score(x))


def test_short_input_scores_nan(series: np.ndarray) -> None:
    det = Themis(**FAST).fit(series[:200])
    assert np.isnan(det.score(series[:10])).all()


# ---------------------------------------------------------------------- constant channels
def _with_constant_channel(series: np.ndarray) -> np.ndarray:
    return np.column_stack([series, np.full(len(series), 5.0)])


def test_a_constant_channel_does_not_silence_the_others(series: np.ndarray) -> None:
    x = _with_constant_channel(series)
    det = Themis(**FAST).fit(x[:200])
    one = Themis(**FAST).fit(series[:200])
    assert det.used_.tolist() == [0] and det.flat_.tolist() == [1]
    got, want = det.score(x), one.score(series)
    warm = slice(FAST["window"] - 1, None)
    assert np.isfinite(got[warm]).all()
    np.testing.assert_allclose(got[warm], want[warm], atol=1e-9)  # the level holds: no floor
    x[250:253, 1] = np.nan
    gap = Themis(**FAST).fit(x[:200]).score(x)
    assert np.isnan(gap[250 : 253 + FAST["window"] - 1]).all()  # every window holding the gap
    np.testing.assert_allclose(gap[253 + FAST["window"] :], want[253 + FAST["window"] :])


def test_a_constant_channel_that_moves_scores_far_above(series: np.ndarray) -> None:
    x = _with_constant_channel(series)
    x[350, 1] = 5.5
    det = Themis(**FAST).fit(x[:200])
    got = det.score(x)
    assert got[350] > 1e6 * np.nanmax(np.delete(got, 350))
    stream = StreamScorer(det, context=x[:300])
    np.testing.assert_allclose(stream.update(x[300:]), got[300:], atol=1e-9)


def test_constant_channels_survive_save_and_load(series: np.ndarray, tmp_path: Path) -> None:
    x = _with_constant_channel(series)
    x[350, 1] = 4.0
    det = Themis(**FAST).fit(x[:200])
    det.save(tmp_path / "m")
    back = registry.load(tmp_path / "m")
    np.testing.assert_array_equal(back.score(x), det.score(x))


def test_a_fit_saved_before_constant_channels_were_told_apart_loads(
    series: np.ndarray, tmp_path: Path
) -> None:
    det = Themis(**FAST).fit(series[:200])
    det.save(tmp_path / "m")
    for name in ("used_", "flat_", "flat_level_"):
        delattr(det, name)
    det.save(tmp_path / "older")  # the state as it was written before these arrays existed
    back = registry.load(tmp_path / "older")
    np.testing.assert_array_equal(back.score(series), registry.load(tmp_path / "m").score(series))


def test_every_channel_constant_is_refused() -> None:
    with pytest.raises(ValueError, match="every channel of `train` is constant"):
        Themis(**FAST).fit(np.full((200, 2), 3.0))
