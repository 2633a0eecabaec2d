"""``/metrics``: per-series gauges with the series' labels, and self-monitoring."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from anomalyd.service import remote_write
from tests.unit.service.conftest import post, wait_scored


def samples(client: TestClient, name: str) -> list[tuple[dict[str, str], float]]:
    text = client.get("/metrics").text
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out.append((s.labels, s.value))
    return out


def test_series_gauges(client: TestClient, series_values: np.ndarray) -> None:
    client.put("/v1/series/web", json={"labels": {"team": "sre"}})
    r = post(client, "web", np.arange(101), series_values[:101])
    last = r.json()["scores"][-1]
    post(client, "warm", [1], [1.0])  # warming up: no gauge
    [(labels, value)] = samples(client, "anomaly_score")
    assert labels == {"series": "web", "team": "sre", "detector": "mad"}
    assert value == last["anomaly_score"] and value > 1
    [(_, raw)] = samples(client, "anomaly_raw_score")
    assert raw == last["raw_score"]
    status = {lab["status"]: v for lab, v in samples(client, "anomalyd_series")}
    assert status == {"warming_up": 1.0, "fitting": 0.0, "ready": 1.0, "failed": 0.0}


def test_a_departure_beyond_float_range_stays_on_metrics(client: TestClient) -> None:
    """A span of 1e-300 then 1e300: the raw score is infinite; it is published as the largest
    float, so the series keeps its gauges (an alert rule sees the 100)."""
    r = post(client, "far", np.arange(41), np.r_[np.full(40, 1e-300), 1e300])
    last = r.json()["scores"][-1]
    assert last["raw_score"] == np.finfo(np.float64).max
    [(_, score)] = samples(client, "anomaly_score")
    [(_, raw)] = samples(client, "anomaly_raw_score")
    assert score == last["anomaly_score"] >= 1 and raw == np.finfo(np.float64).max
    assert client.get("/v1/series/far").json()["last_raw_score"] == raw


def test_remote_write_series_keep_their_labels(client: TestClient) -> None:
    labels = {"__name__": "http_requests", "job": "api", "detector": "x", "metric": "y"}
    body = remote_write.encode([(labels, [(i * 1000, float(i % 5)) for i in range(60)])])
    assert client.post("/api/v1/write", content=body).status_code == 204
    wait_scored(client, remote_write.series_id_for(labels))
    [(got, _)] = samples(client, "anomaly_score")
    assert got == {
        "metric": "http_requests",
        "job": "api",
        "exported_detector": "x",
        "exported_metric": "y",
        "detector": "mad",
    }


def test_self_monitoring(client: TestClient, series_values: np.ndarray) -> None:
    post(client, "a", np.arange(60), series_values[:60])
    text = client.get("/metrics").text
    for name in (
        'anomalyd_points_ingested_total{source="rest"} 60.0',
        "anomalyd_scoring_latency_seconds_count",
        "anomalyd_batch_points_bucket",
        "anomalyd_batch_series_bucket",
        "anomalyd_queue_depth 0.0",
        "anomalyd_queue_capacity",
        'anomalyd_models_fitted_total{detector="mad"} 1.0',
        "anomalyd_fit_duration_seconds_count 1.0",
        "anomalyd_ingest_to_score_seconds_count 1.0",  # one write, scored once
    ):
        assert name in text, name
