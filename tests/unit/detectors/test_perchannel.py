"""Per-channel ensembles: channels joined by their top-k scores, constant channels left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anomalyd.detectors import registry
from anomalyd.detectors.ensemble import Ensemble
from anomalyd.detectors.perchannel import PerChannel
from anomalyd.detectors.streaming import StreamScorer

FAST = {"members": "mad:8,lof:6", "point": ""}


def _three_channels(n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 25 + np.arange(3)) + 0.1 * rng.normal(size=(n, 3))


def test_each_channel_scores_as_its_own_ensemble_rescaled() -> None:
    x = _three_channels()
    det = PerChannel(**FAST, top_k=3).fit(x[:300])
    want = []
    for c in range(3):
        alone = Ensemble(**FAST).fit(x[:300, [c]])
        raw = alone.score(x[:, [c]])
        train = alone.score(x[:300, [c]])
        train = train[np.isfinite(train)]
        med = np.median(train)
        want.append((raw - med) / (np.quantile(train, 0.99) - med))
    np.testing.assert_allclose(det.score(x), np.mean(want, axis=0), rtol=1e-10)


def test_top_one_flags_a_departure_in_one_channel_that_the_mean_dilutes() -> None:
    x = _three_channels()
    x[420:424, 2] += 1.5
    top1 = PerChannel(**FAST, top_k=1).fit(x[:300]).score(x)
    mean = PerChannel(**FAST, top_k=3).fit(x[:300]).score(x)
    assert np.nanmax(top1[420:430]) > np.nanmax(top1[320:410]) * 1.5
    assert np.nanmax(top1[420:430]) > np.nanmax(mean[420:430])


def test_constant_channels_are_left_out_and_all_constant_is_refused() -> None:
    x = _three_channels()
    x[:, 1] = 7.0
    det = PerChannel(**FAST).fit(x[:300])
    assert det.used_.tolist() == [0, 2] and det.flat_.tolist() == [1]
    with pytest.raises(ValueError, match="every channel of `train` is constant"):
        PerChannel(**FAST).fit(np.ones((300, 2)))


def test_bad_members_are_refused_with_the_ensemble_message() -> None:
    with pytest.raises(ValueError, match="`members` must be comma-separated"):
        PerChannel(members="nope:3").fit(_three_channels())


def test_a_channel_constant_in_training_that_moves_later_alerts_and_survives_save(
    tmp_path: Path,
) -> None:
    x = _three_channels()
    x[:, 1] = 7.0
    x[450, 1] = 7.5
    det = PerChannel(**FAST).fit(x[:300])
    scores = det.score(x)
    assert scores[450] > 1e6 and np.nanmax(np.delete(scores[300:], 150)) < 1e3
    det.save(tmp_path / "m")
    np.testing.assert_array_equal(registry.load(tmp_path / "m").score(x), scores)


def test_nan_in_any_channel_blanks_the_point_and_streaming_equals_batch() -> None:
    x = _three_channels()
    x[:, 1] = 7.0
    det = PerChannel(**FAST, top_k=2).fit(x[:300])
    x[400, 1] = np.nan
    whole = det.score(x)
    assert np.isnan(whole[400]) and np.isfinite(whole[401])
    scorer = StreamScorer(det, context=x[:300])
    parts = [scorer.update(x[i : i + 37]) for i in range(300, 500, 37)]
    np.testing.assert_allclose(np.concatenate(parts), whole[300:], rtol=1e-12, equal_nan=True)
