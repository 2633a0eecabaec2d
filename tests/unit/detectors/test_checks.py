"""The shared check suite: every registered detector must pass every check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anomalyd.detectors import StreamScorer, load, registry
from anomalyd.detectors.base import (
    META_FILE,
    STATE_FILE,
    Detector,
    NotFittedError,
    init_param_names,
)
from anomalyd.detectors.registry import from_bytes
from tests.unit.detectors.conftest import FAST_PARAMS, available_names

pytestmark = pytest.mark.parametrize("name", available_names())
TRAIN = 200


def make(name: str, **extra: object) -> Detector:
    return registry.create(name, {**FAST_PARAMS[name], **extra})


def fitted(name: str, x: np.ndarray) -> Detector:
    return make(name).fit(x[:TRAIN])


def test_registered_with_schema(name: str) -> None:
    cls = registry.get_class(name)
    assert cls.name == name
    assert init_param_names(cls) == [p.name for p in cls.params]
    defaults = cls().get_params()
    assert defaults == {p.name: p.default for p in cls.params}
    assert set(cls.param_schema()["properties"]) == set(defaults)


def test_score_shape_and_warmup(name: str, series: np.ndarray) -> None:
    det = fitted(name, series)
    s = det.score(series)
    assert s.shape == series.shape
    assert np.isnan(s[: det.context_length]).all()
    assert np.isfinite(s[det.context_length :]).all()


def test_causal(name: str, series: np.ndarray) -> None:
    det = fitted(name, series)
    changed = series.copy()
    changed[250:] = np.random.default_rng(1).normal(size=len(series) - 250) * 5
    np.testing.assert_allclose(det.score(changed)[:250], det.score(series)[:250], atol=1e-9)


def test_incremental_equals_batch(name: str, series: np.ndarray) -> None:
    det = fitted(name, series)
    batch = det.score(series)
    stream = StreamScorer(det)
    chunks = np.split(series, [1, 2, 30, 31, 150, 151, 152, 290, 333])
    got = np.concatenate([stream.update(c) for c in chunks])
    np.testing.assert_allclose(got, batch, atol=1e-6, equal_nan=True)


def test_batched_across_series_equals_one_by_one(name: str, series: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    xs = [series, series[::-1].copy(), series + rng.normal(size=len(series))]
    dets = type(make(name)).fit_many([(make(name), x[:TRAIN]) for x in xs])
    batched = type(dets[0]).score_many(list(zip(dets, xs, strict=True)))
    for det, x, got in zip(dets, xs, batched, strict=True):
        np.testing.assert_allclose(got, det.score(x), atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(
            got, make(name).fit(x[:TRAIN]).score(x), atol=1e-6, equal_nan=True
        )


def test_save_load_round_trip(name: str, series: np.ndarray, tmp_path: object) -> None:
    det = fitted(name, series)
    det.save(tmp_path)  # type: ignore[arg-type]
    again = load(tmp_path)  # type: ignore[arg-type]
    assert type(again) is type(det) and again.get_params() == det.get_params()
    np.testing.assert_array_equal(again.score(series), det.score(series))


def test_bytes_in_memory_equal_the_saved_files(
    name: str, series: np.ndarray, tmp_path: Path
) -> None:
    det = fitted(name, series)
    det.save(tmp_path)
    meta, state = det.to_bytes()
    assert meta == (tmp_path / META_FILE).read_text()
    assert state == (tmp_path / STATE_FILE).read_bytes()
    np.testing.assert_array_equal(from_bytes(meta, state).score(series), det.score(series))


def test_seeded_determinism(name: str, series: np.ndarray) -> None:
    a = fitted(name, series).score(series)
    b = fitted(name, series).score(series)
    np.testing.assert_array_equal(a, b)


def test_nan_input(name: str, series: np.ndarray) -> None:
    x = series.copy()
    x[100] = np.nan
    x[320] = np.nan
    det = make(name).fit(x[:TRAIN])
    s = det.score(x)
    w = det.context_length
    assert np.isnan(s[320 : 320 + w + 1]).all()
    assert np.isfinite(s[321 + w :]).all()
    assert np.isfinite(s[w:100]).all()


def test_multivariate(name: str, series: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    x = np.stack(
        [series, np.cos(np.arange(len(series)) / 4) + 0.1 * rng.normal(size=len(series))], 1
    )
    x[300, 1] += 5.0
    det = make(name).fit(x[:TRAIN])
    s = det.score(x)
    assert s.shape == (len(x),)
    assert np.isfinite(s[det.context_length :]).all()
    with pytest.raises(ValueError, match="must have 2 channel"):
        det.score(series)


def test_finds_the_spike(name: str, series: np.ndarray) -> None:
    s = fitted(name, series).score(series)
    normal = np.nanmedian(s[TRAIN:290])
    assert np.nanmax(s[300 : 300 + FAST_PARAMS[name].get("window", 8)]) > normal


def test_not_fitted(name: str, series: np.ndarray) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        make(name).score(series)


def test_bad_input(name: str, series: np.ndarray) -> None:
    det = fitted(name, series)
    with pytest.raises(ValueError, match="contains inf"):
        det.score(np.r_[series[:50], np.inf])
    with pytest.raises(ValueError, match="must be a 1-D array or a 2-D"):
        det.score(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="needs at least"):
        make(name).fit(series[:3])


def test_unknown_param_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Unknown parameter\\(s\\) bogus"):
        registry.create(name, {"bogus": 1})


def _invalid_values(name: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for p in registry.get_class(name).params:
        out.append((p.name, "nonsense" if p.kind is not str else 12345))
        if p.minimum is not None:
            out.append((p.name, p.kind(p.minimum) - 1))
        if p.maximum is not None:
            out.append((p.name, p.kind(p.maximum) + 1))
    return out


def test_bad_parameters_have_clear_messages(name: str, series: np.ndarray) -> None:
    for pname, value in _invalid_values(name):
        det = make(name, **{pname: value})
        with pytest.raises(ValueError, match=f"^`{pname}` must be .* Got {value!r} instead.$"):
            det.fit(series[:TRAIN])
