"""The refit schedule and the training span: incidents stay out, a lasting change is learnt."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors.echo import SUSTAIN
from anomalyd.service.series import NEVER, SeriesConfig
from anomalyd.service.training import (
    MERGE_GAP,
    alert_runs,
    first_boundary,
    next_boundary,
    training_span,
)
from tests.unit.service.conftest import ClientFactory, post, settle


def config(train: int = 2016, refit: int = 288, detector: str = "mad") -> SeriesConfig:
    return SeriesConfig(detector, {"window": 8}, train, refit, 0.995)


def boundaries(cfg: SeriesConfig, n: int) -> list[int]:
    out = [first_boundary(cfg)]
    while out[-1] < n:
        out.append(next_boundary(cfg, out[-1]))
    return out


@pytest.mark.parametrize(
    "cfg, expected",
    [
        (config(), [256, 512, 800, 1088, 1376]),  # grows by doubling, then one step a refit
        (config(refit=0), [256, 512, 1024, 2016, NEVER]),  # grows to train_points, then stops
        (config(train=100, refit=0), [100, NEVER]),  # a short span fits once
        (config(train=100, refit=30), [100, 130, 160, 190, 220, 250, 280, 310, 340, 370, 400]),
    ],
)
def test_boundaries(cfg: SeriesConfig, expected: list[int]) -> None:
    assert boundaries(cfg, expected[-2] + 1)[: len(expected)] == expected


def test_first_fit_waits_for_what_the_detector_needs() -> None:
    cfg = SeriesConfig("mad", {"window": 300}, 2016, 288, 0.995)
    assert first_boundary(cfg) == 2 * 300


def test_alert_runs_merge_close_alerts() -> None:
    a = np.zeros(100, dtype=bool)
    a[[10, 10 + MERGE_GAP + 1, 60, 61, 99]] = True
    assert alert_runs(a) == [(10, 10 + MERGE_GAP + 2), (60, 62), (99, 100)]
    assert alert_runs(np.zeros(5, dtype=bool)) == []


def test_incidents_are_masked_out_of_the_next_span() -> None:
    values = np.arange(1000.0)[:, None]
    scores = np.zeros(1000)
    scores[[100, 101, 300]] = [1.5, 3.0, 9.0]
    scores[200:202] = 1.5  # warnings only: normal data crosses the line at the target rate
    scores[400:700] = 5.0  # lasted longer than refit_every: a change, kept
    scores[:50] = np.nan  # warm-up
    span = training_span(config(refit=288), values, scores)
    assert span.masked == 3
    assert np.flatnonzero(np.isnan(span.values[:, 0])).tolist() == [100, 101, 300]


def test_a_lasting_change_is_learnt_beside_what_came_before() -> None:
    values = np.arange(1000.0)[:, None]
    scores = np.zeros(1000)
    scores[600:] = 2.5  # alerting for the last 400 points, longer than refit_every = 288
    scores[620] = 0.5  # a dip under the line does not end the run
    scores[100:110] = 3.0  # an earlier incident stays masked
    span = training_span(config(refit=288), values, scores)
    assert span.masked == 10
    np.testing.assert_array_equal(np.isnan(span.values[:, 0]), np.arange(1000) // 10 == 10)


def test_an_alerts_echo_belongs_to_its_run() -> None:
    scores = np.zeros(1000)
    scores[600] = 3.0  # alerted once, then published at the line while its windows held it
    scores[601:] = 1.0
    span = training_span(config(refit=288), np.ones((1000, 1)), scores)
    assert span.masked == 0  # 400 points: a change, not an incident
    scores[700:] = 0.2  # the echo ended after 100 points: an incident, echo included
    span = training_span(config(refit=288), np.ones((1000, 1)), scores)
    assert span.masked == 100


def test_a_recent_change_is_still_an_incident() -> None:
    scores = np.zeros(1000)
    scores[800:] = 2.5  # 200 points < refit_every
    span = training_span(config(refit=288), np.ones((1000, 1)), scores)
    assert span.masked == 200


def test_service_learns_a_permanent_shift_within_two_refits(make_client: ClientFactory) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=1_000)
    x[400:] += 8.0  # a permanent level shift
    with make_client() as client:
        cfg = {"detector": "subpca", "params": {"window": 8}, "train_points": 200}
        client.put("/v1/series/shift", json={**cfg, "refit_every": 50})
        for lo in range(0, len(x), 50):
            post(client, "shift", np.arange(lo, lo + 50), x[lo : lo + 50])
        settle(client, "shift")
        pts = client.get("/v1/series/shift/scores").json()["points"]
    alerts = np.array([(p["anomaly_score"] or 0.0) > 1.0 for p in pts])
    assert alerts[400:408].mean() > 0.5  # the shift alerts while its windows fill,
    assert alerts[400 + SUSTAIN * 8 : 450].mean() > 0.8  # and again once it outlasts them
    assert alerts[400 + 2 * 50 + 8 :].mean() <= 0.02  # then it is the new normal
