"""Streaming fast paths: compiled passes equal the array paths, batches split across threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from anomalyd.detectors import registry
from anomalyd.detectors._kernels import KIND_LOF, KIND_LOF_SLIDING
from anomalyd.detectors._knn import sliding_series, sq_dists_sliding, sq_dists_t
from anomalyd.detectors._ragged import addresses
from anomalyd.detectors._windows import STREAM_WINDOWS, WindowDetector, windows, znorm_windows
from anomalyd.detectors.apre import STREAM_AE_WINDOWS, _score_all
from anomalyd.detectors.ensemble import FUSED_WINDOWS, _score_by_member, _score_fused
from anomalyd.detectors.streaming import SPLIT_MIN_SERIES, StreamScorer

CASES = [
    ("lof", {"window": 8, "n_neighbors": 5}),
    ("lof", {"window": 8, "n_neighbors": 5, "normalize": "window"}),
    ("lof", {"window": 1, "n_neighbors": 3}),
    ("subpca", {"window": 8}),
    ("subpca", {"window": 6, "normalize": "window"}),
    ("kmeans", {"window": 8, "n_clusters": 6}),
    ("kmeans", {"window": 6, "n_clusters": 4, "normalize": "window"}),
    ("mp", {"window": 8}),
    ("lof", {"window": 8, "n_neighbors": 5, "max_train_windows": 100}),  # thinned: no slide
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


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("window", [5, 8])
def test_sliding_reference_gives_bit_identical_distances(channels: int, window: int) -> None:
    z = _series(60, channels, seed=3)
    reference_t = np.ascontiguousarray(windows(z, window).T)
    series = sliding_series(reference_t, channels)
    assert series is not None and series.shape == (channels, 60)
    np.testing.assert_array_equal(series, z.T)
    row = _series(window, channels, seed=4).ravel()
    got, want = np.empty(reference_t.shape[1]), np.empty(reference_t.shape[1])
    sq_dists_sliding(row, series, got)
    sq_dists_t(row, reference_t, want)
    np.testing.assert_array_equal(got, want)
    thinned = np.ascontiguousarray(reference_t[:, ::2])
    assert sliding_series(thinned, channels) is None
    assert sliding_series(np.ascontiguousarray(windows(z, 1).T), channels) is None


def test_lof_streams_from_the_series_only_when_its_windows_are_consecutive() -> None:
    full = _fitted("lof", {"window": 8, "n_neighbors": 5}, 2)
    thinned = _fitted("lof", {"window": 8, "n_neighbors": 5, "max_train_windows": 100}, 2)
    assert full._stream_reference()[1] and full.stream_record()["kind"][0] == KIND_LOF_SLIDING
    assert not thinned._stream_reference()[1] and thinned.stream_record()["kind"][0] == KIND_LOF


def test_znorm_windows_standardises_each_window_and_channel() -> None:
    w = np.random.default_rng(4).normal(size=(50, 12)) * 3.0 + 2.0
    w[0] = 7.0  # flat: the floor keeps it at 0 instead of amplifying rounding noise
    v = w.reshape(50, 6, 2)
    want = (v - v.mean(axis=1, keepdims=True)) / np.maximum(v.std(axis=1, keepdims=True), 0.01)
    got = znorm_windows(w, 2)
    np.testing.assert_allclose(got, want.reshape(50, 12), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[0], 0.0)


@pytest.mark.parametrize("channels", [1, 2])
def test_autoencoder_stream_pass_equals_stacked_forward(channels: int) -> None:
    det = registry.create("ae", {"window": 8, "epochs": 3}).fit(_series(300, channels, seed=1))
    x = _series(7 + STREAM_AE_WINDOWS, channels, seed=2) * 1.5
    x[10, 0] = np.nan
    assert det._streams(len(x)) and not det._streams(len(x) + 1)
    stream, stacked = det._score_stream(x), _score_all([(det, x)])[0]
    np.testing.assert_array_equal(np.isnan(stream), np.isnan(stacked))
    np.testing.assert_allclose(stream, stacked, rtol=1e-12, atol=1e-12)


def test_apre_has_no_stream_pass() -> None:
    det = registry.create("apre", {"window": 8, "epochs": 1}).fit(_series(300, 1, seed=1))
    assert not det._streams(10)


def test_update_many_in_parts_on_a_pool_gives_the_same_scores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = 3 * SPLIT_MIN_SERIES + 5
    xs = [_series(130, 1, seed=s) for s in range(n)]
    dets = [registry.create("lof", {"window": 8, "n_neighbors": 5}).fit(x[:100]) for x in xs]
    cls = type(dets[0])
    parts: list[int] = []
    score_many = cls._score_many.__func__  # type: ignore[attr-defined]

    def spy(c: Any, items: Any) -> Any:
        parts.append(len(items))
        return score_many(c, items)

    def run(**kw: Any) -> list[np.ndarray]:
        scorers = [StreamScorer(d, context=x[:100]) for d, x in zip(dets, xs, strict=True)]
        return StreamScorer.update_many(scorers, [x[100:] for x in xs], **kw)

    monkeypatch.setattr(cls, "_score_many", classmethod(spy))
    with ThreadPoolExecutor(2) as pool:
        parted = run(pool=pool, parts=3)
    # three threads, at most PARTS_PER_THREAD parts each, none under SPLIT_MIN_SERIES series
    assert sorted(parts) == [17, 18, 18]
    parts.clear()
    alone = run()
    assert parts == [n]  # without a pool: one call
    for got, want, det, x in zip(parted, alone, dets, xs, strict=True):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, det.score(x)[100:], rtol=1e-12)


@pytest.mark.parametrize(("name", "params"), [CASES[0], CASES[3], ("ae", {"window": 8})])
def test_refit_and_reload_pass_their_own_arrays_to_the_kernels(
    name: str, params: dict[str, Any], tmp_path: Any
) -> None:
    det = registry.create(name, {**params, **({"epochs": 2} if name == "ae" else {})})
    x = _series(20, 1, seed=5)
    det.fit(_series(300, 1, seed=1))
    first = det._score_stream(x)  # caches the fitted arrays' addresses
    det.fit(_series(300, 1, seed=9) * 3.0)
    again = det._score_stream(x)
    assert not np.allclose(again[7:], first[7:])
    np.testing.assert_allclose(again, det.score(_series(20, 1, seed=5)), rtol=1e-12)
    det.save(tmp_path)
    loaded = registry.load(tmp_path)
    np.testing.assert_array_equal(loaded._score_stream(x), again)


def test_addresses_need_contiguous_float64() -> None:
    class Owner:
        pass

    with pytest.raises(ValueError, match="must be C-contiguous float64"):
        addresses(Owner(), np.zeros((4, 4))[:, ::2])


FUSED_SPECS = [
    "lof:8,lof:12:normalize=window,subpca:10,ae:8:epochs=2",
    "lof:auto:normalize=window,ae:6:epochs=2",
]


def _ensembles(spec: str, channels: int, n: int) -> list[Any]:
    dets = [registry.create("ensemble", {"members": spec}) for _ in range(n)]
    trains = [_series(300, channels, seed=s) * (1 + s) for s in range(n)]
    return type(dets[0]).fit_many(list(zip(dets, trains, strict=True)))


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("spec", FUSED_SPECS)
def test_fused_ensemble_pass_equals_member_by_member(spec: str, channels: int) -> None:
    dets = _ensembles(spec, channels, 3)
    xs = []
    for s, det in enumerate(dets):
        x = _series(det.context_length + FUSED_WINDOWS, channels, seed=20 + s)
        if s == 2:
            x[det.context_length + 2, 0] = np.nan  # NaN windows
        xs.append(x)
    xs[1] = xs[1][: dets[1].context_length - 1]  # shorter than the context: all NaN
    items = list(zip(dets, xs, strict=True))
    assert all(det._fuses(len(x)) for det, x in items)
    fused, by_member = _score_fused(items), _score_by_member(items)
    for got, want in zip(fused, by_member, strict=True):
        np.testing.assert_array_equal(got, want)  # bit for bit
    assert np.isnan(fused[1]).all() and np.isfinite(fused[0][-3:]).all()
    assert np.isnan(fused[2][-FUSED_WINDOWS + 2]) and np.isfinite(fused[2][-FUSED_WINDOWS + 1])


def test_ensemble_takes_the_fused_pass_only_when_every_member_has_a_kernel() -> None:
    det = _ensembles(FUSED_SPECS[0], 1, 1)[0]
    assert det._fuses(det.context_length + FUSED_WINDOWS)
    assert not det._fuses(det.context_length + FUSED_WINDOWS + 1)  # catching up: member path
    other = registry.create("ensemble", {"members": "lof:8,mad:8"}).fit(_series(300, 1, 3))
    assert other.stream_record() is None and not other._fuses(10)
    x = _series(40, 1, seed=4)
    np.testing.assert_allclose(other._score_many([(other, x)])[0], other.score(x), rtol=1e-12)


def test_fused_pass_follows_a_refit_and_a_reload(tmp_path: Any) -> None:
    det = _ensembles(FUSED_SPECS[0], 1, 1)[0]
    x = _series(det.context_length + 5, 1, seed=7)
    first = det._score_many([(det, x)])[0]  # caches the member records
    det.fit(_series(300, 1, seed=8) * 4.0)
    again = det._score_many([(det, x)])[0]
    assert not np.allclose(again[-5:], first[-5:])
    np.testing.assert_array_equal(again, _score_by_member([(det, x)])[0])
    det.save(tmp_path)
    loaded = registry.load(tmp_path)
    np.testing.assert_array_equal(loaded._score_many([(loaded, x)])[0], again)
