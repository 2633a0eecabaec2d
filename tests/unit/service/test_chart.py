"""``anomalyd.service.chart`` (alert runs, MinMaxLTTB thinning) and the ``/chart`` and ``/alerts``
API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from anomalyd import service
from anomalyd.service.chart import AlertRun, alert_runs, chart_columns, thin
from anomalyd.service.storage import StoredPoints
from tests.unit.service.conftest import post, wait_scored


def slow_alert_runs(ts: list[float], score: list[float]) -> list[AlertRun]:
    """Obviously correct: walk the points, open a run at a score > 1, close it at the next."""
    runs: list[AlertRun] = []
    open_at = None
    for i, s in enumerate([*score, float("nan")]):
        alerting = s == s and s > 1.0
        if alerting and open_at is None:
            open_at = i
        if not alerting and open_at is not None:
            peak = max(score[open_at:i])
            severity = "critical" if peak > 2.0 else "warning"
            runs.append(AlertRun(ts[open_at], ts[i - 1], i - open_at, peak, severity))
            open_at = None
    return runs


scores = st.lists(
    st.one_of(st.floats(0.0, 3.0), st.just(float("nan")), st.just(1.0), st.just(2.0)),
    max_size=60,
)


@given(scores)
@settings(max_examples=200, deadline=None)
def test_alert_runs_match_the_slow_reference(score: list[float]) -> None:
    ts = [1000.0 + 60 * i for i in range(len(score))]
    assert alert_runs(np.array(ts), np.array(score)) == slow_alert_runs(ts, score)


def points(values: np.ndarray, score: np.ndarray) -> StoredPoints:
    n = len(score)
    return StoredPoints(
        np.arange(n), 1e9 + 15.0 * np.arange(n), values.reshape(n, -1), score.copy(), score
    )


def test_thin_keeps_every_point_of_a_short_range() -> None:
    pts = points(np.arange(50.0), np.full(50, np.nan))
    assert thin(pts.ts, chart_columns(pts), 50).tolist() == list(range(50))


def test_thin_keeps_the_extremes_of_each_channel_and_of_the_score() -> None:
    rng = np.random.default_rng(3)
    n = 100_000
    values = rng.normal(size=(n, 2))
    values[12_345, 0], values[54_321, 1] = 40.0, -40.0
    score = rng.uniform(0.0, 0.9, n)
    score[:500] = np.nan  # warm-up
    score[77_777] = 5.0
    pts = points(values, score)
    kept = thin(pts.ts, chart_columns(pts), 1_000)
    assert np.all(np.diff(kept) > 0)
    assert {0, 12_345, 54_321, 77_777, n - 1} <= set(kept.tolist())
    assert 1_000 <= len(kept) <= 3 * 1_000 + 2


def test_thin_of_a_score_all_nan_thins_on_values_only() -> None:
    pts = points(np.sin(np.arange(10_000) / 50), np.full(10_000, np.nan))
    kept = thin(pts.ts, chart_columns(pts), 200)
    assert 190 <= len(kept) <= 202  # thinned on the values, not dropped


@pytest.fixture
def scored(client: TestClient, series_values: np.ndarray) -> TestClient:
    ts = 1_700_000_000 + 60 * np.arange(len(series_values))
    assert post(client, "s", ts, series_values).status_code == 200
    wait_scored(client, "s")
    return client


def test_chart_thins_and_keeps_alerts_at_full_resolution(scored: TestClient) -> None:
    full = scored.get("/v1/series/s/scores").json()["points"]
    chart = scored.get("/v1/series/s/chart", params={"points": 20}).json()
    assert chart["total"] == len(full) and chart["downsampled"]
    assert len(chart["timestamps"]) == len(chart["values"][0]) == len(chart["anomaly_score"])
    ts = [p["timestamp"] for p in full]
    score = [np.nan if p["anomaly_score"] is None else p["anomaly_score"] for p in full]
    expected = [vars(r) for r in slow_alert_runs(ts, score)]
    assert expected and chart["alerts"] == expected
    assert scored.get("/v1/series/s/alerts").json()["alerts"] == expected


def test_chart_of_a_time_range(scored: TestClient) -> None:
    lo, hi = 1_700_000_000 + 60 * 90, 1_700_000_000 + 60 * 110
    chart = scored.get("/v1/series/s/chart", params={"start": lo, "end": hi}).json()
    assert chart["total"] == 21 and not chart["downsampled"]
    assert chart["timestamps"][0] == lo and chart["timestamps"][-1] == hi
    iso = scored.get("/v1/series/s/chart", params={"start": "2023-11-14T23:43:20Z"}).json()
    assert iso["timestamps"][0] == 1_700_005_400  # point 90


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2024-01-01T00:00:00"}, "UTC offset"),
        ({"start": 2e9, "end": 1e9}, "end must not be before start"),
        ({"points": 5}, "points"),
        ({"points": 10**6}, "points"),
    ],
)
def test_bad_chart_queries_say_what_to_fix(
    scored: TestClient, params: dict[str, Any], needle: str
) -> None:
    r = scored.get("/v1/series/s/chart", params=params)
    assert r.status_code == 422 and needle in str(r.json()["detail"])


def test_chart_of_a_missing_series_is_404(client: TestClient) -> None:
    for path in ("/v1/series/nope/chart", "/v1/series/nope/alerts"):
        r = client.get(path)
        assert r.status_code == 404 and "does not exist" in r.json()["detail"]


def test_dashboard_is_served_from_the_package(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "vendor/uplot/uPlot.iife.min.js" in page.text
    for path in ("dashboard.js", "dashboard.css", "vendor/uplot/uPlot.min.css"):
        assert client.get(f"/dashboard/{path}").status_code == 200


def test_vendored_uplot_is_the_version_package_json_pins() -> None:
    folder = Path(service.__file__).parent / "dashboard"
    pinned = json.loads((folder / "package.json").read_text())["dependencies"]["uplot"]
    banner = (folder / "vendor" / "uplot" / "uPlot.iife.min.js").read_text()[:100]
    assert f"(v{pinned})" in banner
    assert "MIT License" in (folder / "vendor" / "uplot" / "LICENSE").read_text()
