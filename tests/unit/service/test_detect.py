"""``POST /v1/detect``: stateless scoring with the series' scoring path."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from anomalyd.detectors import registry
from anomalyd.detectors.base import Calibrator
from tests.unit.service.conftest import as_array


def test_detect_with_training_prefix(client: TestClient, series_values: np.ndarray) -> None:
    x = series_values
    body = {
        "detector": "mad",
        "params": {"window": 8},
        "train": x[:60].tolist(),
        "values": x[60:].tolist(),
    }
    r = client.post("/v1/detect", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    det = registry.create("mad", {"window": 8}).fit(x[:60])
    cal = Calibrator().fit(det.score(x[:60]))
    raw = det.score(x)[60:]
    np.testing.assert_allclose(as_array(out["raw_scores"]), raw, atol=1e-12)
    np.testing.assert_allclose(as_array(out["anomaly_scores"]), cal.transform(raw), atol=1e-12)
    assert out["context_length"] == 7 and out["threshold"] == 1.0
    assert out["anomalous"][100 - 60] is True


def test_detect_without_training(client: TestClient, series_values: np.ndarray) -> None:
    r = client.post("/v1/detect", json={"params": {"window": 8}, "values": series_values.tolist()})
    out = r.json()
    assert out["detector"] == "mad" and out["params"]["window"] == 8
    assert out["raw_scores"][:7] == [None] * 7 and out["anomalous"][:7] == [None] * 7
    assert out["raw_scores"][7] is not None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detector": "zzz", "values": [1] * 50}, "Unknown detector 'zzz'"),
        ({"params": {"bogus": 1}, "values": [1] * 50}, "Unknown parameter(s) bogus"),
        (
            {"params": {"window": 8}, "values": [1, 2, 3]},
            "fitted on `values` (no `train` given): `train` needs at least 16 points",
        ),
        ({"values": [1, 2], "train": [[1, 2]] * 40}, "train has 2 channel(s)"),
        ({"values": [1, [2]]}, "values[1] has 1 numbers"),
        ({"values": []}, "values: List should have at least 1 item"),
        ({"values": [1], "quantile": 2}, "quantile: Input should be less than or equal to 1"),
    ],
)
def test_detect_errors(client: TestClient, body: dict[str, object], message: str) -> None:
    r = client.post("/v1/detect", json=body)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


def test_detect_nan_refused(client: TestClient) -> None:
    r = client.post(
        "/v1/detect", content='{"values": [1, NaN]}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "finite number" in r.json()["detail"]
