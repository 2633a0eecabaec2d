"""Settings in time (``7d``, ``1h``): converted to points at the series' step."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from anomalyd.service.durations import duration_seconds, step_seconds, to_points
from anomalyd.service.series import MAX_TRAIN_POINTS
from tests.unit.service.conftest import post

STEP = 300  # 5-minute points


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("1.5h", 5400), ("7d", 604800), ("2w", 1209600)]
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7", "d", "7 d", "-1h", "1y", "1e3s"])
def test_malformed_duration_names_the_format(text: str) -> None:
    with pytest.raises(ValueError, match="a number and a unit s, m, h, d or w"):
        duration_seconds(text)


def test_step_is_the_median_gap() -> None:
    ts = np.array([0.0, 300, 600, 900, 2000, 2300])  # one gap of a missed scrape
    assert step_seconds(ts) == 300
    assert step_seconds(np.array([5.0])) is None


def test_to_points_rounds_and_needs_a_step() -> None:
    assert to_points("refit_every", "1d", 300) == 288
    assert to_points("refit_every", "0s", 300) == 0
    assert to_points("train_points", "300s", 300) == 1
    assert to_points("refit_every", "1m", 60.001) == 1  # a step measured with jitter
    for text in ("1s", "150s"):  # 150 s is half a step: it rounds to no point too
        with pytest.raises(ValueError, match=rf"'{text}', at most half the series' step \(300 s"):
            to_points("refit_every", text, 300)
    with pytest.raises(ValueError, match="needs at least two stored points"):
        to_points("train_points", "7d", None)


def _with_points(client: TestClient, sid: str, n: int = 10) -> None:
    ts = 1_700_000_000 + STEP * np.arange(n)
    assert post(client, sid, ts, np.arange(n, dtype=float)).status_code < 300


def test_put_converts_durations_at_the_series_step(client: TestClient) -> None:
    _with_points(client, "cpu")
    r = client.put("/v1/series/cpu", json={"train_points": "1d", "refit_every": "2h"})
    assert r.status_code == 200, r.text
    assert (r.json()["train_points"], r.json()["refit_every"]) == (288, 24)
    r = client.put("/v1/series/cpu", json={"train_points": 100, "refit_every": "0s"})
    assert (r.json()["train_points"], r.json()["refit_every"]) == (100, 0)


@pytest.mark.parametrize(
    ("body", "points", "message"),
    [
        ({"train_points": "7d"}, 0, "needs at least two stored points"),
        ({"train_points": "7x"}, 10, "train_points"),
        ({"refit_every": "1s"}, 10, "at most half the series' step"),
        ({"train_points": f"{MAX_TRAIN_POINTS}w"}, 10, f"must be 1 to {MAX_TRAIN_POINTS:,}"),
    ],
)
def test_duration_errors_change_nothing(
    client: TestClient, body: dict[str, str], points: int, message: str
) -> None:
    if points:
        _with_points(client, "q", points)
    before = client.get("/v1/series/q").json() if points else None
    r = client.put("/v1/series/q", json=body)
    assert r.status_code == 422, r.text
    assert message in str(r.json()["detail"])
    after = client.get("/v1/series/q")
    assert (after.json() if points else after.status_code) == (before if points else 404)
