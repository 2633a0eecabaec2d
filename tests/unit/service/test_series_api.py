"""``/v1/series``: configuration, listing, deletion, and their error messages."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.unit.service.conftest import TRAIN, ClientFactory, post


def test_put_creates_then_updates(client: TestClient) -> None:
    r = client.put("/v1/series/cpu.load", json={"params": {"window": 16}, "train_points": 64})
    assert r.status_code == 201
    body = r.json()
    assert body["detector"] == "mad"  # the configured default (conftest)
    assert body["params"] == {"window": 16}
    assert body["status"] == "warming_up"
    assert body["labels"] == {"series": "cpu.load"}
    again = client.put("/v1/series/cpu.load", json={"params": {"window": 16}, "train_points": 64})
    assert again.status_code == 200
    assert again.json()["created_at"] == body["created_at"]


def test_defaults_for_series_created_by_a_write(client: TestClient) -> None:
    post(client, "auto", [1, 2], [1.0, 2.0])
    body = client.get("/v1/series/auto").json()
    assert body["train_points"] == TRAIN
    assert body["refit_every"] == 0  # the test clients turn refits off; the default is 288
    assert body["quantile"] == 0.995
    assert body["points"] == 2 and body["status"] == "warming_up"


def test_list_and_counts(client: TestClient, series_values: np.ndarray) -> None:
    post(client, "b", np.arange(60), series_values[:60])
    post(client, "a", [1], [1.0])
    body = client.get("/v1/series").json()
    assert [s["id"] for s in body["series"]] == ["a", "b"]
    assert body["counts"] == {"warming_up": 1, "fitting": 0, "ready": 1, "failed": 0}
    stats = client.get("/v1/stats").json()
    assert stats["counts"] == body["counts"] and stats["series"] == 2
    assert stats["points_stored"] == 61
    assert stats["points_scored"] + stats["points_pending"] == 61


def test_reconfigure_refits_on_latest_points(client: TestClient, series_values: np.ndarray) -> None:
    x = series_values
    post(client, "re", np.arange(100), x[:100])
    r = client.put("/v1/series/re", json={"params": {"window": 5}, "train_points": 30})
    assert r.status_code == 200
    r = post(client, "re", np.arange(100, 180), x[100:])
    from anomalyd.detectors import registry

    det = registry.create("mad", {"window": 5}).fit(x[70:100])
    got = [p["raw_score"] for p in r.json()["scores"]]
    np.testing.assert_allclose(got, det.score(x)[100:], atol=1e-9)
    info = client.get("/v1/series/re").json()
    assert info["params"] == {"window": 5} and info["status"] == "ready"


def test_labels_on_rest_series(client: TestClient) -> None:
    r = client.put("/v1/series/lab", json={"labels": {"team": "sre"}})
    assert r.json()["labels"] == {"series": "lab", "team": "sre"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detector": "nope"}, "Unknown detector 'nope'"),
        ({"params": {"windw": 8}}, "Unknown parameter(s) windw"),
        ({"params": {"window": 2}}, "`window` must be an int >= 3"),
        ({"params": {"window": "8"}}, "`window` must be an int"),
        ({"params": {"window": 200}}, "train_points must be at least 400"),
        ({"train_points": 0}, "`train_points` must be an int from 1 to 1,000,000 or a duration"),
        ({"train_points": "40"}, "or a duration such as '7d' or '1h' (a number and a unit s"),
        ({"refit_every": -1}, "`refit_every` must be an int >= 0 or a duration such as '7d'"),
        ({"refit_every": True}, "`refit_every` must be an int >= 0 or a duration"),
        ({"train_points": 2016.0}, "`train_points` must be an int from 1 to"),
        ({"quantile": 0.2}, "quantile: Input should be greater than or equal to 0.5"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"labels": {"__x": "1"}}, "labels: '__x' cannot be used"),
        ({"labels": {"series": "1"}}, "labels: 'series' cannot be used"),
        ({"labels": {"detector": "1"}}, "labels: 'detector' is reserved"),
        ({"labels": {"a-b": "1"}}, "labels: 'a-b' cannot be used"),
    ],
)
def test_put_errors(client: TestClient, body: dict[str, object], message: str) -> None:
    r = client.put("/v1/series/x", json=body)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
    assert client.get("/v1/series/x").status_code == 404  # nothing applied


def test_put_error_keeps_existing_config(client: TestClient) -> None:
    client.put("/v1/series/k", json={"params": {"window": 8}})
    assert client.put("/v1/series/k", json={"params": {"window": 1}}).status_code == 422
    assert client.get("/v1/series/k").json()["params"] == {"window": 8}


def test_put_body_not_json(client: TestClient) -> None:
    r = client.put("/v1/series/x", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["detail"]


@pytest.mark.parametrize("sid", ["-lead", "a b", "x" * 201, "ünï"])
def test_invalid_series_id(client: TestClient, sid: str) -> None:
    r = client.put(f"/v1/series/{sid}", json={})
    assert r.status_code == 422
    assert "is not valid" in r.json()["detail"]


def test_a_long_invalid_id_is_not_echoed_whole(client: TestClient) -> None:
    r = client.put(f"/v1/series/{'a' * 5000}", json={})
    assert r.status_code == 422 and len(r.text) < 300
    assert "'aaaa" in r.json()["detail"] and "(5000 characters) is not valid" in r.json()["detail"]


def test_get_unknown_series(client: TestClient) -> None:
    for path in ("/v1/series/ghost", "/v1/series/ghost/scores"):
        r = client.get(path)
        assert r.status_code == 404
        assert "does not exist" in r.json()["detail"]
    assert client.delete("/v1/series/ghost").status_code == 404


def test_delete(client: TestClient, series_values: np.ndarray) -> None:
    post(client, "d", np.arange(60), series_values[:60])
    assert client.delete("/v1/series/d").status_code == 204
    assert client.get("/v1/series/d").status_code == 404
    # the id can be reused from scratch
    r = post(client, "d", [0], [1.0])
    assert r.json()["accepted"] == 1
    assert client.get("/v1/series/d").json()["points"] == 1


def test_delete_survives_restart(make_client: ClientFactory) -> None:
    with make_client() as client:
        post(client, "gone", [1], [1.0])
        client.delete("/v1/series/gone")
    with make_client() as client:
        assert client.get("/v1/series/gone").status_code == 404


def test_put_only_series_survives_restart(make_client: ClientFactory) -> None:
    with make_client() as client:
        client.put("/v1/series/conf", json={"train_points": 99})
    with make_client() as client:
        assert client.get("/v1/series/conf").json()["train_points"] == 99


def test_detectors_listing(client: TestClient) -> None:
    body = client.get("/v1/detectors").json()
    names = [d["name"] for d in body["detectors"]]
    assert "mad" in names and body["default"] == "mad"  # the configured default
    mad = next(d for d in body["detectors"] if d["name"] == "mad")
    assert mad["available"] is True
    assert mad["params_schema"]["properties"]["window"]["type"] == "integer"
    for d in body["detectors"]:
        assert d["available"] or d["error"]


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "series": None, "queue_depth": None}
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/series/{series_id}/points" in paths and "/api/v1/write" in paths


def test_invalid_default_config_fails_at_startup(tmp_path: object) -> None:
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from anomalyd.service.app import create_app
    from anomalyd.service.settings import Settings

    settings = Settings(data_dir=Path(str(tmp_path)), default_params={"window": 1})
    with pytest.raises(ValueError, match="ANOMALYD_DEFAULT_DETECTOR"):
        create_app(settings, CollectorRegistry())
