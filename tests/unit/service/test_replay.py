"""``anomalyd.service.replay`` gives the scores the live service stores for the same points."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors.calibration import MAX_SCORE
from anomalyd.service.replay import replay
from anomalyd.service.series import SeriesConfig
from tests.unit.service.conftest import ClientFactory, post, settle


def _incident_and_shift(n: int) -> np.ndarray:
    """Noise with an incident (masked from the next span), spikes and a permanent shift."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)
    x[300:320] += 9.0
    x[[450, 610]] += 7.0
    x[700:] += 8.0
    return x


@pytest.mark.parametrize("refit_every", [0, 60])
def test_replay_equals_the_live_service(make_client: ClientFactory, refit_every: int) -> None:
    x = _incident_and_shift(1_000)
    cfg = {"detector": "subpca", "params": {"window": 8}, "train_points": 200}
    with make_client() as client:
        client.put("/v1/series/s", json={**cfg, "refit_every": refit_every, "quantile": 0.99})
        for lo in range(0, len(x), 70):  # writes that do not line up with the boundaries
            post(client, "s", np.arange(lo, min(lo + 70, len(x))), x[lo : lo + 70])
        settle(client, "s")
        pts = client.get("/v1/series/s/scores").json()["points"]
    live = np.array([np.nan if p["anomaly_score"] is None else p["anomaly_score"] for p in pts])
    config = SeriesConfig("subpca", {"window": 8}, 200, refit_every, 0.99)
    offline = replay(config, x)
    np.testing.assert_allclose(offline.score, live, rtol=1e-9, atol=1e-12)
    assert np.isfinite(live[200:]).all() and (live[300:320] > 1).any()
    assert len(offline.models) == (1 if refit_every == 0 else 14)
    # the ranking score is the anomaly_score unbounded: equal to it but where the echo rule
    # held an echo at the line, below the median (< 0) or above the cap
    score = np.clip(offline.rank, 0.0, MAX_SCORE)
    echoed = (offline.score == 1.0) & (score > 1.0)
    np.testing.assert_array_equal(score[~echoed], offline.score[~echoed])
    assert (offline.rank[200:] < 0).mean() > 0.3 and echoed.any()


def test_replay_reports_a_failed_first_fit() -> None:
    config = SeriesConfig("mad", {"window": 8}, 40, 0, 0.99)
    x = np.full(100, np.nan)
    x[::3] = np.arange(34.0)  # no whole window of 8
    out = replay(config, x)
    assert out.error is not None and np.isnan(out.score).all() and not out.models
