"""Bad writes get a 4xx with a message that says what to fix, and change nothing."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.unit.service.conftest import ClientFactory, post


def write_raw(client: TestClient, sid: str, text: str) -> object:
    return client.post(
        f"/v1/series/{sid}/points", content=text, headers={"content-type": "application/json"}
    )


def count(client: TestClient, sid: str) -> int | None:
    r = client.get(f"/v1/series/{sid}")
    return r.json()["points"] if r.status_code == 200 else None


@pytest.mark.parametrize(
    ("text", "status", "message"),
    [
        ('{"timestamps": [1, 2], "values": [1.0, NaN]}', 422, "values[1]"),
        ('{"timestamps": [1, 2], "values": [1.0, Infinity]}', 422, "finite number"),
        ('{"timestamps": [1, 2], "values": [1.0, -Infinity]}', 422, "finite number"),
        ('{"timestamps": [1, NaN], "values": [1.0, 2.0]}', 422, "timestamps[1]"),
        (
            '{"timestamps": [1, 2], "values": [1.0, "2"]}',
            422,
            "values[1]: Input should be a valid number",
        ),
        (
            '{"timestamps": [1], "values": [[1, "a"]]}',
            422,
            "values[0][1]: Input should be a valid number",
        ),
        ('{"timestamps": [1, 2], "values": [1.0, true]}', 422, "values[1]"),
        ('{"timestamps": [1, 2], "values": [1.0]}', 422, "same length; got 2 timestamps and 1"),
        ('{"timestamps": [], "values": []}', 422, "at least 1 item"),
        ('{"timestamps": [1]}', 422, "values: Field required"),
        ('{"timestamps": [1], "values": [1], "x": 1}', 422, "x: Extra inputs are not permitted"),
        ('{"timestamps": [2, 1], "values": [1, 2]}', 422, "strictly increasing: timestamps[1]"),
        ('{"timestamps": [1, 1], "values": [1, 1]}', 422, "strictly increasing"),
        ('{"timestamps": [1, 2], "values": [1, [1, 2]]}', 422, "values[1] has 2 numbers"),
        ('{"timestamps": [1, 2], "values": [[1, 2], [1]]}', 422, "values[1] has 1 numbers"),
        ('{"timestamps": [1], "values": [[]]}', 422, "empty list"),
        ('{"timestamps": [1, 2], "values": [1.0, []]}', 422, "values[1] is an empty list"),
        ('{"timestamps": [1], "values": [[1, NaN]]}', 422, "finite number"),
        ('{"timestamps": [1, 2], "values": [1, -1e301]}', 422, "values[1]: -1e+301 is beyond"),
        ('{"timestamps": [1700000000000], "values": [1]}', 422, "looks like milliseconds"),
        ('{"timestamps": [-5], "values": [1]}', 422, "outside 0 .. 1e11"),
        (
            '{"timestamps": [1e300], "values": [1]}',
            422,
            "1e+300 is outside 0 .. 1e11 unix seconds.",
        ),
        (
            '{"timestamps": [9000000000], "values": [1]}',
            422,
            "(9000000000 = 2255-03-14T16:00:00Z)",
        ),
        ('{"timestamps": [5, 5.5, 5.25], "values": [1, 2, 3]}', 422, "[2] (5.25) is not after"),
        ('{"timestamps": ["yesterday"], "values": [1]}', 422, "neither a number"),
        ('{"timestamps": ["2024-05-01T12:00:00"], "values": [1]}', 422, "no UTC offset"),
        ('{"timestamps": [1], "values": [1]', 422, "not valid JSON"),
        ("[1, 2]", 422, "Input should be a valid dictionary"),
    ],
)
def test_invalid_points(client: TestClient, text: str, status: int, message: str) -> None:
    r = write_raw(client, "e", text)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"], r.json()["detail"]
    assert count(client, "e") is None  # the series was not even created


@pytest.mark.parametrize("kind", ["text/plain", None])
def test_a_body_not_sent_as_json_is_told_so(client: TestClient, kind: str | None) -> None:
    headers = {"content-type": kind} if kind else {}
    text = '{"timestamps": [1], "values": [1]}'
    r = client.post("/v1/series/j/points", content=text, headers=headers)
    assert r.status_code == 415
    assert "Send the body as JSON with Content-Type: application/json" in r.json()["detail"]
    assert count(client, "j") is None


@pytest.mark.parametrize("kind", ["Application/JSON", "application/json; charset=utf-8"])
def test_json_in_any_spelling_gets_the_fields_errors(client: TestClient, kind: str) -> None:
    text = '{"timestamps": [1], "values": ["q"]}'
    r = client.post("/v1/series/j/points", content=text, headers={"content-type": kind})
    assert r.status_code == 422 and "values[0]: Input should be a valid number" in r.text


def test_a_put_without_a_body_takes_the_defaults(client: TestClient) -> None:
    r = client.put("/v1/series/plain")
    assert r.status_code == 201 and r.json()["detector"] == "mad"  # the client's default


def test_rfc3339_timestamps(client: TestClient) -> None:
    stamps = ["2024-05-01T12:00:00Z", "2024-05-01T14:00:01+02:00", 1714565000]
    body = {"timestamps": stamps, "values": [1, 2, 3]}
    r = client.post("/v1/series/t/points", json=body)
    assert r.status_code == 200, r.text
    got = [p["timestamp"] for p in r.json()["scores"]]
    assert got == [1714564800.0, 1714564801.0, 1714565000.0]


def test_duplicates_are_idempotent(client: TestClient, series_values: np.ndarray) -> None:
    x = series_values
    first = post(client, "dup", np.arange(60), x[:60])
    again = post(client, "dup", np.arange(50, 70), x[50:70])
    assert again.status_code == 200
    assert again.json()["accepted"] == 10 and again.json()["duplicates"] == 10
    assert again.json()["scores"][:10] == first.json()["scores"][50:60]
    retry = post(client, "dup", np.arange(50, 70), x[50:70])
    assert retry.json()["accepted"] == 0 and retry.json()["duplicates"] == 20
    assert retry.json()["scores"] == again.json()["scores"]
    assert count(client, "dup") == 70


def test_conflicting_duplicate_refused(client: TestClient) -> None:
    post(client, "c", [1, 2, 3], [1.0, 2.0, 3.0])
    r = post(client, "c", [3, 4], [3.5, 4.0])
    assert r.status_code == 409
    assert "already has a different value at timestamp 3" in r.json()["detail"]
    assert count(client, "c") == 3  # point 4 was not stored either


def test_a_point_from_the_future_is_refused_and_locks_nothing(make_client: ClientFactory) -> None:
    now = time.time()
    with make_client(remote_write_future_s=60) as client:
        post(client, "f", [now - 10], [1.0])
        r = post(client, "f", [now - 5, now + 3600], [2.0, 3.0])
        assert r.status_code == 422
        assert "is later than the service's clock allows" in r.json()["detail"]
        assert "ANOMALYD_REMOTE_WRITE_FUTURE_S" in r.json()["detail"]
        assert count(client, "f") == 1  # neither point of the write was stored
        assert post(client, "f", [now - 5, now + 30], [2.0, 3.0]).status_code == 200
        assert count(client, "f") == 3


def test_out_of_order_refused(client: TestClient) -> None:
    post(client, "o", [10, 20], [1.0, 2.0])
    r = post(client, "o", [15, 30], [1.5, 3.0])
    assert r.status_code == 422
    assert (
        "Timestamp 15 of series 'o' is not after its last stored point (20)" in r.json()["detail"]
    )
    assert count(client, "o") == 2


def test_channel_count_must_not_change(client: TestClient) -> None:
    post(client, "ch", [1], [1.0])
    r = post(client, "ch", [2], [[1.0, 2.0]])
    assert r.status_code == 422
    assert "has 1 channel(s) per point; this write has 2" in r.json()["detail"]


def test_too_many_points(make_client: ClientFactory) -> None:
    with make_client(max_points_per_request=5) as client:
        r = post(client, "big", np.arange(6), np.zeros(6))
        assert r.status_code == 413
        assert "6 points in one request; the limit is 5" in r.json()["detail"]
        assert count(client, "big") is None


def test_body_too_large(make_client: ClientFactory) -> None:
    with make_client(max_body_bytes=2048) as client:
        r = post(client, "big", np.arange(500), np.zeros(500))
        assert r.status_code == 413
        assert "larger than the limit of 2048 bytes" in r.json()["detail"]
        chunked = client.post(
            "/v1/series/big/points",
            content=iter([b'{"timestamps": [', b"1," * 2000, b"1]}"]),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413


def test_queue_full_gives_429(make_client: ClientFactory) -> None:
    with make_client(queue_capacity=5, retry_after_s=3) as client:
        r = post(client, "q", np.arange(6), np.zeros(6))
        assert r.status_code == 429
        assert r.headers["retry-after"] == "3"
        assert "queue is full" in r.json()["detail"]
        assert count(client, "q") is None
        assert post(client, "q", np.arange(5), np.zeros(5)).status_code == 200
        metrics = client.get("/metrics").text
        assert 'anomalyd_write_throttled_total{source="rest"} 1.0' in metrics


def test_rejections_are_counted(client: TestClient) -> None:
    write_raw(client, "r", json.dumps({"timestamps": [2, 1], "values": [1, 2]}))
    metrics = client.get("/metrics").text
    assert 'anomalyd_points_rejected_total{reason="invalid",source="rest"} 2.0' in metrics


def test_scores_query(client: TestClient, series_values: np.ndarray) -> None:
    post(client, "s", np.arange(100, 280), series_values)
    body = client.get("/v1/series/s/scores", params={"start": 150, "end": 159}).json()
    assert [p["timestamp"] for p in body["points"]] == list(range(150, 160))
    assert body["truncated"] is False
    body = client.get("/v1/series/s/scores", params={"start": 150, "limit": 3}).json()
    assert len(body["points"]) == 3 and body["truncated"] is True
    iso = client.get("/v1/series/s/scores", params={"end": "1970-01-01T00:01:45Z"}).json()
    assert [p["timestamp"] for p in iso["points"]] == list(range(100, 106))
    for params, message in (
        ({"start": "soon"}, "start: 'soon' is neither a number"),
        ({"start": 10, "end": 5}, "end must not be before start"),
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"limit": 10**9}, "limit must be at most"),
    ):
        r = client.get("/v1/series/s/scores", params=params)
        assert r.status_code == 422 and message in r.json()["detail"], r.text
