"""Degenerate data through the API: constant series, flat spans, scale and offset."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.unit.service.conftest import TRAIN, ClientFactory, post, settle


def alerts(client: TestClient, sid: str) -> np.ndarray:
    settle(client, sid)
    pts = client.get(f"/v1/series/{sid}/scores").json()["points"]
    return np.array([(p["anomaly_score"] or 0.0) > 1.0 for p in pts])


@pytest.mark.parametrize("detector", ["ensemble", "iforest", "lof", "mad"])
def test_detect_on_identical_values_flags_nothing(client: TestClient, detector: str) -> None:
    body = {"values": [42.5] * 300, "detector": detector}
    r = client.post("/v1/detect", json=body)
    assert r.status_code == 200, r.text
    assert not any(r.json()["anomalous"])


def test_flat_series_says_so_and_flags_a_departure(make_client: ClientFactory) -> None:
    x = np.full(TRAIN + 60, 3.0)
    x[TRAIN + 30] = 1e6
    with make_client(default_detector="iforest", default_params={"window": 8}) as client:
        post(client, "flat", np.arange(len(x)), x)
        info = client.get("/v1/series/flat").json()
        got = alerts(client, "flat")
    assert info["status"] == "ready" and info["model_detector"] == "constant"
    assert info["calibration"].startswith("constant training span")
    assert np.flatnonzero(got).tolist() == [TRAIN + 30]


def test_same_alerts_at_any_scale_or_offset(make_client: ClientFactory) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=TRAIN * 4)
    x[TRAIN * 3] += 9.0
    with make_client() as client:
        for sid, (scale, offset) in {"a": (1, 0), "b": (1e15, 0), "c": (1e-12, 5e-11)}.items():
            post(client, sid, np.arange(len(x)), x * scale + offset)
        got = [alerts(client, sid) for sid in "abc"]
    assert got[0][TRAIN * 3]
    for other in got[1:]:
        np.testing.assert_array_equal(other, got[0])


def test_sparse_counter_flat_in_warm_up_learns_its_rare_values(make_client: ClientFactory) -> None:
    rng = np.random.default_rng(1)
    x = np.zeros(800)
    x[rng.choice(np.arange(60, 800), 24, replace=False)] = rng.integers(1, 4, 24)
    with make_client() as client:
        client.put("/v1/series/errors", json={"train_points": 200, "refit_every": 50})
        post(client, "errors", np.arange(len(x)), x)
        info = settle(client, "errors")
    assert info["model_version"] > 1 and info["model_detector"] == "mad", info
