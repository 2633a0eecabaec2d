"""``POST /api/v1/write``: Prometheus remote-write (protobuf + snappy)."""

from __future__ import annotations

import struct
import time

import cramjam
import numpy as np
import pytest
from fastapi.testclient import TestClient

from anomalyd.detectors import registry
from anomalyd.service import parsing, remote_write
from tests.unit.service.conftest import TRAIN, ClientFactory, as_array, post, wait_scored

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
    assert a == b and parsing.REMOTE_WRITE_ID.match(a)  # the form REST may not write to
    assert remote_write.canonical({"__name__": "m", "a": 'x"y'}) == 'm{a="x\\"y"}'


def test_retried_request_is_idempotent(client: TestClient) -> None:
    body = [(LABELS, [(1000, 1.0), (2000, 2.0)])]
    assert write(client, body).status_code == 204
    assert write(client, body).status_code == 204
    sid = remote_write.series_id_for(LABELS)
    assert client.get(f"/v1/series/{sid}").json()["points"] == 2


def stored(client: TestClient, labels: dict[str, str]) -> list[tuple[float, float]]:
    """(timestamp s, value) of every stored point of a remote-write series ([] if none)."""
    r = client.get(f"/v1/series/{remote_write.series_id_for(labels)}/scores")
    return (
        [] if r.status_code == 404 else [(p["timestamp"], p["value"]) for p in r.json()["points"]]
    )


def rejected(client: TestClient, reason: str) -> float:
    line = f'anomalyd_points_rejected_total{{reason="{reason}",source="remote_write"}} '
    text = client.get("/metrics").text
    return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0.0)


def test_one_out_of_order_sample_costs_only_itself(client: TestClient) -> None:
    """HA pairs, restarts, clock skew: the good samples of the request are stored."""
    other = {**LABELS, "instance": "h2:9100"}
    assert write(client, [(LABELS, [(5000, 1.0)])]).status_code == 204
    body = [(LABELS, [(1000, 1.0), (6000, 2.0)]), (other, [(i * 1000, i) for i in range(30)])]
    for _retry in range(2):  # an exact retry changes nothing
        r = write(client, body)
        assert r.status_code == 400
        assert r.json()["detail"].startswith("Refused 1 sample(s); the other 31 are stored.")
        assert "out_of_order: 1 sample(s), the first of series queue_len{" in r.json()["detail"]
        assert "timestamp 1: not after its last stored point (" in r.json()["detail"]
        assert stored(client, LABELS) == [(5.0, 1.0), (6.0, 2.0)]
        assert len(stored(client, other)) == 30
    assert rejected(client, "out_of_order") == 2


def test_conflicting_sample_refused_alone(client: TestClient) -> None:
    write(client, [(LABELS, [(1000, 1.0)])])
    new = {"__name__": "fresh"}
    r = write(client, [(new, [(1000, 5.0)]), (LABELS, [(1000, 9.0), (2000, 3.0)])])
    assert r.status_code == 400 and "duplicate_timestamp: 1 sample(s)" in r.json()["detail"]
    assert "a stored point has another value" in r.json()["detail"]
    assert stored(client, LABELS) == [(1.0, 1.0), (2.0, 3.0)]
    assert stored(client, new) == [(1.0, 5.0)]
    assert rejected(client, "duplicate_timestamp") == 1


def test_every_sample_refused_creates_no_series(client: TestClient) -> None:
    r = write(client, [({"__name__": "m", "": "x"}, [(1000, 1.0)]), ({}, [(1000, 1.0)])])
    assert r.status_code == 400 and "invalid_labels: 2 sample(s)" in r.json()["detail"]
    assert client.get("/v1/series").json()["series"] == []


def test_same_timestamp_twice_in_one_request(client: TestClient) -> None:
    assert write(client, [(LABELS, [(1000, 1.0), (1000, 1.0)])]).status_code == 204
    r = write(client, [(LABELS, [(2000, 1.0), (2000, 2.0), (3000, 3.0)])])
    assert r.status_code == 400 and "sent twice in the request" in r.json()["detail"]
    assert stored(client, LABELS) == [(1.0, 1.0), (2.0, 1.0), (3.0, 3.0)]


def _expected_after(model: dict, request: list) -> tuple[dict, int]:
    """The obviously-correct rule: per series, the first sample sent at a timestamp is kept
    when it is after the last stored point or repeats a stored point; everything else is
    refused. Returns the new store and the number of refused samples."""
    out, refused = {k: dict(v) for k, v in model.items()}, 0
    for labels, samples in request:
        key = tuple(sorted(labels.items()))
        if not all(labels):
            refused += len(samples)
            continue
        have, seen = out.setdefault(key, {}), {}
        last = max(have, default=None)
        for t, v in sorted(samples, key=lambda s: s[0]):
            if t in seen:
                refused += seen[t] != v
            elif last is not None and t <= last and have.get(t) != v:
                refused += 1
            else:
                have[t] = v
            seen.setdefault(t, v)
    return {k: v for k, v in out.items() if v}, refused


@pytest.mark.parametrize("seed", range(4))
def test_any_mix_of_good_and_bad_series(client: TestClient, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model: dict = {}
    for _ in range(12):
        request = []
        for k in rng.choice(5, size=int(rng.integers(1, 4)), replace=False):
            labels = {"__name__": "m", "k": str(k)} if k < 4 else {"__name__": "m", "": "x"}
            ts = rng.integers(0, 40, size=int(rng.integers(1, 6))) * 1000
            request.append((labels, [(int(t), float(rng.integers(0, 2))) for t in ts]))
        model, n_refused = _expected_after(model, request)
        r = write(client, request)
        assert r.status_code == (400 if n_refused else 204), r.text
        if n_refused:
            assert r.json()["detail"].startswith(f"Refused {n_refused} sample(s)")
        for key, points in model.items():
            want = [(t / 1000, v) for t, v in sorted(points.items())]
            assert stored(client, dict(key)) == want


def test_utf8_metric_and_label_names(client: TestClient, series_values: np.ndarray) -> None:
    """Prometheus 3 and OpenTelemetry names: kept exactly beside a legacy series, exported
    as they are to a scraper that asks for UTF-8 and escaped to one that does not."""
    otel = {"__name__": "http.server.duration", "service.name": "checkout", "é—名": "ünï"}
    samples = [(i * 15_000, float(v)) for i, v in enumerate(series_values[:60])]
    r = write(client, [(otel, samples), (LABELS, [(1000, 2.0)])])
    assert r.status_code == 204, r.text
    info = wait_scored(client, remote_write.series_id_for(otel))
    assert info["labels"] == otel
    assert stored(client, LABELS) == [(1.0, 2.0)]
    legacy = client.get("/metrics", headers={"Accept": "text/plain;version=0.0.4"}).text
    assert (
        'anomaly_score{detector="mad",metric="http.server.duration",service_name="checkout"'
        in legacy
    )
    utf8 = client.get(
        "/metrics", headers={"Accept": "text/plain;version=1.0.0;escaping=allow-utf-8"}
    )
    assert "escaping=allow-utf-8" in utf8.headers["content-type"]
    assert '"service.name"="checkout","é—名"="ünï"}' in utf8.text


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


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Encoding": "gzip"}, "snappy"),
        ({"Content-Type": "application/json"}, "application/x-protobuf"),
        ({"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v9.Request"}, "1.0"),
        ({"Content-Type": "application/x-protobuf; proto=unknown"}, "proto=prometheus.Write"),
        ({"Content-Type": "application/x-protobuf;proto="}, "proto=prometheus.Write"),
        ({"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Requests"}, "2.0"),
        ({"Content-Type": "text/plain;proto=prometheus.WriteRequest"}, "not supported"),
    ],
)
def test_unsupported_content_415_stores_nothing(
    client: TestClient, headers: dict[str, str], message: str
) -> None:
    body = remote_write.encode([(LABELS, [(1000, 1.0)])])
    r = client.post("/api/v1/write", content=body, headers=headers)
    assert r.status_code == 415 and message in r.json()["detail"]
    assert client.get("/v1/series").json()["series"] == []


@pytest.mark.parametrize(
    "ctype",
    [
        "application/x-protobuf",
        "application/x-protobuf;proto=prometheus.WriteRequest",
        'Application/X-Protobuf; charset=utf-8; proto="prometheus.WriteRequest"',
    ],
)
def test_remote_write_1_content_types(client: TestClient, ctype: str) -> None:
    body = remote_write.encode([(LABELS, [(1000, 1.0)])])
    assert (
        client.post("/api/v1/write", content=body, headers={"Content-Type": ctype}).status_code
        == 204
    )


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


def test_rest_cannot_create_or_feed_remote_write_ids(client: TestClient) -> None:
    write(client, [(LABELS, [(1000, 1.0)])])
    sid = remote_write.series_id_for(LABELS)
    for r in (
        post(client, sid, [2000], [2.0]),
        post(client, "rw-0123456789abcdef0123", [1000], [1.0]),
        client.put("/v1/series/rw-0123456789abcdef4567", json={}),
    ):
        assert r.status_code == 422 and "has the form of a remote-write" in r.json()["detail"]
    assert [s["id"] for s in client.get("/v1/series").json()["series"]] == [sid]
    assert client.get(f"/v1/series/{sid}").json()["points"] == 1
    assert client.put("/v1/series/rw-db01", json={}).status_code == 201  # not the hash form
    assert post(client, "rw-db01", [1000], [1.0]).status_code == 200
    assert client.delete(f"/v1/series/{sid}").status_code == 204
    assert client.put(f"/v1/series/{sid}", json={}).status_code == 422  # deleted: free again
    write(client, [(LABELS, [(3000, 3.0)])])
    assert client.put(f"/v1/series/{sid}", json={"train_points": 50}).status_code == 200


def test_queue_full_429_with_retry_after(make_client: ClientFactory) -> None:
    with make_client(queue_capacity=2, retry_after_s=7) as client:
        r = write(client, [(LABELS, [(1000, 1.0), (2000, 2.0), (3000, 3.0)])])
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert client.get("/v1/series").json()["series"] == []
        assert (
            'anomalyd_write_throttled_total{source="remote_write"} 1.0'
            in client.get("/metrics").text
        )


def test_ha_replicas_feed_one_series(make_client: ClientFactory) -> None:
    """Two replicas scrape at their own times: the first one seen is kept; the other takes
    over once the first has been silent for the failover time (of sample time)."""
    a, b = {**LABELS, "__replica__": "a"}, {**LABELS, "__replica__": "b"}
    with make_client(remote_write_replica_label="__replica__", remote_write_failover_s=30) as c:
        assert write(c, [(a, [(0, 1.0), (15_000, 2.0)]), (b, [(3_000, 9.0)])]).status_code == 204
        assert write(c, [(b, [(18_000, 9.0), (33_000, 9.0)])]).status_code == 204
        assert write(c, [(a, [(30_000, 3.0)])]).status_code == 204
        assert stored(c, LABELS) == [(0.0, 1.0), (15.0, 2.0), (30.0, 3.0)]
        assert write(c, [(b, [(63_000, 8.0)])]).status_code == 204  # a silent for 33 s
        assert write(c, [(a, [(45_000, 4.0)])]).status_code == 204  # a is no longer elected
        assert stored(c, LABELS)[-1] == (63.0, 8.0)
        assert rejected(c, "ha_replica") == 4
        info = c.get(f"/v1/series/{remote_write.series_id_for(LABELS)}").json()
        assert info["labels"] == LABELS and len(c.get("/v1/series").json()["series"]) == 1


def test_one_replica_per_series_in_a_request(make_client: ClientFactory) -> None:
    """Both replicas (or one, and the series without the label) in one request: one is kept,
    and a retried old batch of the kept one does not hand the series over."""
    a, b = {**LABELS, "__replica__": "a"}, {**LABELS, "__replica__": "b"}
    with make_client(remote_write_replica_label="__replica__", remote_write_failover_s=30) as c:
        for request in (
            [(a, [(0, 1.0), (10_000, 2.0)]), (b, [(3_000, 9.0)])],
            [(LABELS, [(5_000, 8.0)]), (a, [(20_000, 3.0)])],  # without the label: dropped
            [(a, [(100_000, 4.0)])],
            [(a, [(0, 1.0), (10_000, 2.0)])],  # a retry of an old batch
            [(b, [(120_000, 9.0)])],  # a sent 100 s: not silent for 30 s
            [(b, [(200_000, 9.0)]), (a, [(130_000, 5.0)])],  # the kept one wins in a request
        ):
            assert write(c, request).status_code == 204
        assert [v for _, v in stored(c, LABELS)] == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert rejected(c, "ha_replica") == 4


def test_replica_label_is_part_of_the_identity_by_default(client: TestClient) -> None:
    a, b = {**LABELS, "__replica__": "a"}, {**LABELS, "__replica__": "b"}
    assert write(client, [(a, [(0, 1.0)]), (b, [(3_000, 9.0)])]).status_code == 204
    assert len(client.get("/v1/series").json()["series"]) == 2


def test_native_histograms_refused_and_exemplars_counted_in_1_0(client: TestClient) -> None:
    """Prometheus sends native histograms and exemplars in 1.0 requests too."""
    req = remote_write.WriteRequest()
    hist = req.timeseries.add()
    hist.labels.add(name="__name__", value="latency_seconds")
    hist.histograms.add(timestamp=1000)
    floats = req.timeseries.add()
    floats.labels.add(name="__name__", value="up")
    floats.samples.add(timestamp=1000, value=1.0)
    floats.exemplars.add(value=1.0, timestamp=1000)
    raw = req.SerializeToString()
    assert remote_write._scan(raw, 100) is None  # left to the parser
    r = client.post("/api/v1/write", content=bytes(cramjam.snappy.compress_raw(raw)))
    assert r.status_code == 400 and "native_histogram: 1 sample(s)" in r.json()["detail"]
    assert stored(client, {"__name__": "up"}) == [(1.0, 1.0)]
    assert rejected(client, "exemplar") == 1 and rejected(client, "native_histogram") == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"__name__": "m", "a.b": "1", "a_b": "2"}, "would both see as 'a_b'"),
        ({"__name__": "m", "metric": "x", "exported_metric": "y"}, "as 'exported_metric'"),
        ({"__name__": "m", "k": "v" * 2049}, "over 2048 bytes"),
        ({"__name__": "m", **{f"l{i}": "v" for i in range(30)}}, "31 labels; at most 30"),
    ],
)
def test_labels_a_scrape_or_the_store_cannot_hold_are_refused_alone(
    client: TestClient, bad: dict[str, str], message: str
) -> None:
    """A repeated label name in /metrics would fail the whole scrape for every series."""
    r = write(client, [(bad, [(1000, 1.0)]), (LABELS, [(1000, 2.0)])])
    assert r.status_code == 400 and "invalid_labels: 1 sample(s)" in r.json()["detail"]
    assert message in r.json()["detail"]
    assert stored(client, LABELS) == [(1.0, 2.0)]
    assert len(client.get("/v1/series").json()["series"]) == 1


def test_labelsets_never_share_a_series(client: TestClient) -> None:
    a = {"__name__": "m", "a": "x", "b": "y"}
    b = {"__name__": "m", 'a="x",b': "y"}  # the same text as `a` without quoting names
    assert write(client, [(a, [(1000, 1.0)]), (b, [(1000, 9.0)])]).status_code == 204
    assert stored(client, a) == [(1.0, 1.0)] and stored(client, b) == [(1.0, 9.0)]


def test_an_empty_label_value_is_an_absent_label(client: TestClient) -> None:
    assert write(client, [({**LABELS, "env": ""}, [(1000, 1.0)])]).status_code == 204
    assert stored(client, LABELS) == [(1.0, 1.0)]


def test_a_value_beyond_1e300_is_refused_alone(client: TestClient) -> None:
    r = write(client, [(LABELS, [(1000, 1.0), (2000, 2e301), (3000, 3.0)])])
    assert r.status_code == 400 and "value_out_of_range: 1 sample(s)" in r.json()["detail"]
    assert "2e+301 is beyond" in r.json()["detail"]
    only = write(client, [({**LABELS, "job": "db"}, [(4000, 5e305)])])  # every sample refused
    name = remote_write.canonical({**LABELS, "job": "db"})
    assert f"the first of series {name}: value 5e+305" in only.json()["detail"]
    assert [v for _, v in stored(client, LABELS)] == [1.0, 3.0]


def test_a_sample_far_in_the_future_is_refused_alone(client: TestClient) -> None:
    """Else it would make every later real sample of its series out of order."""
    now_ms = int(time.time() * 1000)
    future = now_ms + 86_400_000
    r = write(client, [(LABELS, [(now_ms, 1.0), (future, 2.0)])])
    assert r.status_code == 400 and "too_far_in_future: 1 sample(s)" in r.json()["detail"]
    assert write(client, [(LABELS, [(now_ms + 15_000, 3.0)])]).status_code == 204
    far = write(client, [(LABELS, [(2**62, 4.0)])])  # past every date: still a clear 400
    assert far.status_code == 400 and "after year 9999): later than the clock" in far.text
    assert [v for _, v in stored(client, LABELS)] == [1.0, 3.0]
