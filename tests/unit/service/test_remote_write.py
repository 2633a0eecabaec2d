"""``POST /api/v1/write``: Prometheus remote-write (protobuf + snappy)."""

from __future__ import annotations

import struct

import cramjam
import numpy as np
import pytest
from fastapi.testclient import TestClient

from detectors import registry
from service import remote_write
from tests.unit.service.conftest import TRAIN, ClientFactory, as_array, wait_scored

LABELS = {"__name__": "queue_len", "instance": "h1:9100", "job": "node"}
STALE = struct.unpack("<d", struct.pack("<Q", remote_write.STALE_NAN_BITS))[0]


def write(
    client: TestClient, series: list[tuple[dict[str, str], list[tuple[int, float]]]]
) -> object:
    return client.post(
        "/api/v1/write",
        content=remote_write.encode(series),
        headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"},
    )


def test_labelsets_become_scored_series(client: TestClient, series_values: np.ndarray) -> None:
    x = series_values
    other = {**LABELS, "instance": "h2:9100"}
    for lo in range(0, 180, 30):
        batch = [(i * 15_000, x[i]) for i in range(lo, lo + 30)]
        assert write(client, [(LABELS, batch), (other, batch[:5])]).status_code == 204
    sid = remote_write.series_id_for(LABELS)
    info = wait_scored(client, sid)
    assert info["labels"] == LABELS and info["source"] == "remote_write"
    assert info["points"] == 180 and info["status"] == "ready"
    pts = client.get(f"/v1/series/{sid}/scores").json()["points"]
    assert pts[1]["timestamp"] == 15.0
    det = registry.create("mad", {"window": 8}).fit(x[:TRAIN])
    got = as_array([p["raw_score"] for p in pts])
    np.testing.assert_allclose(got[TRAIN:], det.score(x)[TRAIN:], atol=1e-9)
    assert len(client.get("/v1/series").json()["series"]) == 2


def test_series_id_is_stable_and_label_order_free() -> None:
    a = remote_write.series_id_for({"b": "2", "a": "1", "__name__": "m"})
    b = remote_write.series_id_for({"__name__": "m", "a": "1", "b": "2"})
    assert a == b and a.startswith("rw-")
    assert remote_write.canonical({"__name__": "m", "a": 'x"y'}) == 'm{a="x\\"y"}'


def test_retried_request_is_idempotent(client: TestClient) -> None:
    body = [(LABELS, [(1000, 1.0), (2000, 2.0)])]
    assert write(client, body).status_code == 204
    assert write(client, body).status_code == 204
    sid = remote_write.series_id_for(LABELS)
    assert client.get(f"/v1/series/{sid}").json()["points"] == 2


def test_conflicting_sample_refuses_whole_request(client: TestClient) -> None:
    write(client, [(LABELS, [(1000, 1.0)])])
    new = {"__name__": "fresh"}
    r = write(client, [(new, [(1000, 5.0)]), (LABELS, [(1000, 9.0)])])
    assert r.status_code == 409
    assert "already has a different value" in r.json()["detail"]
    assert client.get(f"/v1/series/{remote_write.series_id_for(new)}").status_code == 404


def test_out_of_order_sample(client: TestClient) -> None:
    write(client, [(LABELS, [(5000, 1.0)])])
    r = write(client, [(LABELS, [(1000, 1.0)])])
    assert r.status_code == 422 and "is not after its last stored point" in r.json()["detail"]


def test_same_timestamp_twice_in_one_request(client: TestClient) -> None:
    assert write(client, [(LABELS, [(1000, 1.0), (1000, 1.0)])]).status_code == 204
    r = write(client, [(LABELS, [(2000, 1.0), (2000, 2.0)])])
    assert r.status_code == 400 and "two different samples" in r.json()["detail"]


def test_non_finite_samples_skipped_and_counted(client: TestClient) -> None:
    samples = [(1000, 1.0), (2000, STALE), (3000, float("nan")), (4000, float("inf")), (5000, 2.0)]
    assert write(client, [(LABELS, samples)]).status_code == 204
    sid = remote_write.series_id_for(LABELS)
    assert client.get(f"/v1/series/{sid}").json()["points"] == 2
    text = client.get("/metrics").text
    assert 'reason="stale_marker",source="remote_write"} 1.0' in text
    assert 'reason="non_finite",source="remote_write"} 2.0' in text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "body is empty"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 400, "not snappy"),
        (b"\x0agarbage!!", 400, "not valid snappy"),
        (
            bytes(cramjam.snappy.compress_raw(b"\x0a\x05\x0a\x03\x0a\x01")),
            400,
            "not a valid protobuf",
        ),
        (bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff")), 400, "not a valid protobuf"),
        (b"\x80\x80\x80\x80\x08", 413, "the limit is"),
    ],
)
def test_malformed_bodies(client: TestClient, body: bytes, status: int, message: str) -> None:
    r = client.post("/api/v1/write", content=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert client.get("/v1/series").json()["series"] == []


def test_bad_labels(client: TestClient) -> None:
    r = write(client, [({"bad-name": "x"}, [(1000, 1.0)])])
    assert r.status_code == 400 and "label name 'bad-name' is not valid" in r.json()["detail"]
    r = write(client, [({}, [(1000, 1.0)])])
    assert r.status_code == 400 and "has no labels" in r.json()["detail"]


def test_wrong_encoding_headers(client: TestClient) -> None:
    body = remote_write.encode([(LABELS, [(1000, 1.0)])])
    r = client.post("/api/v1/write", content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 415 and "snappy" in r.json()["detail"]
    r = client.post("/api/v1/write", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 415 and "application/x-protobuf" in r.json()["detail"]


def test_too_many_samples(make_client: ClientFactory) -> None:
    with make_client(max_points_per_request=3) as client:
        r = write(client, [(LABELS, [(i * 1000, 1.0) for i in range(4)])])
        assert r.status_code == 413 and "holds 4 samples" in r.json()["detail"]


def test_put_cannot_relabel_remote_write_series(client: TestClient) -> None:
    write(client, [(LABELS, [(1000, 1.0)])])
    sid = remote_write.series_id_for(LABELS)
    r = client.put(f"/v1/series/{sid}", json={"labels": {"a": "b"}})
    assert r.status_code == 422 and "comes from remote-write" in r.json()["detail"]
    r = client.put(f"/v1/series/{sid}", json={"train_points": 50})
    assert r.status_code == 200 and r.json()["labels"] == LABELS


def test_queue_full_429_with_retry_after(make_client: ClientFactory) -> None:
    with make_client(queue_capacity=2, retry_after_s=7) as client:
        r = write(client, [(LABELS, [(1000, 1.0), (2000, 2.0), (3000, 3.0)])])
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert client.get("/v1/series").json()["series"] == []
        assert (
            'anomalyd_write_throttled_total{source="remote_write"} 1.0'
            in client.get("/metrics").text
        )
