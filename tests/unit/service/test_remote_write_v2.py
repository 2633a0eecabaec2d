"""Remote-write 2.0 (``io.prometheus.write.v2.Request``) on ``POST /api/v1/write``."""

from __future__ import annotations

import cramjam
import numpy as np
import pytest
from fastapi.testclient import TestClient

from anomalyd.service import remote_write, remote_write_v2
from anomalyd.service.prompb import remote_write_v2_pb2
from tests.unit.service.test_prompb_scan import _outcome, _random_request
from tests.unit.service.test_remote_write import LABELS, rejected, stored

V2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
WRITTEN = "x-prometheus-remote-write-samples-written"


def write_v2(client: TestClient, body: bytes) -> object:
    return client.post(
        "/api/v1/write", content=body, headers={"Content-Encoding": "snappy", "Content-Type": V2}
    )


def test_a_2_0_request_is_stored_with_the_written_headers(client: TestClient) -> None:
    samples = [(i * 15_000, float(i)) for i in range(10)]
    r = write_v2(client, remote_write_v2.encode_v2([(LABELS, samples)]))
    assert r.status_code == 204, r.text
    assert r.headers[WRITTEN] == "10"
    assert r.headers["x-prometheus-remote-write-histograms-written"] == "0"
    assert r.headers["x-prometheus-remote-write-exemplars-written"] == "0"
    assert stored(client, LABELS) == [(i * 15.0, float(i)) for i in range(10)]
    info = client.get(f"/v1/series/{remote_write.series_id_for(LABELS)}").json()
    assert info["labels"] == LABELS  # the same series as a 1.0 write of these labels


def test_histograms_refused_exemplars_counted_floats_kept(client: TestClient) -> None:
    other = {"__name__": "latency_seconds", "le": "0.5"}
    body = remote_write_v2.encode_v2([(LABELS, [(1000, 1.0)]), (other, [])], histograms=2)
    r = write_v2(client, body)
    assert r.status_code == 400 and r.headers[WRITTEN] == "1"
    assert "native_histogram: 4 sample(s)" in r.json()["detail"]
    assert "native histograms are not scored" in r.json()["detail"]
    assert stored(client, LABELS) == [(1.0, 1.0)] and stored(client, other) == []
    r = write_v2(client, remote_write_v2.encode_v2([(LABELS, [(2000, 2.0)])], exemplars=3))
    assert r.status_code == 204 and rejected(client, "exemplar") == 3


def _request(series_refs: list[list[int]], symbols: list[str]) -> bytes:
    req = remote_write_v2_pb2.Request(symbols=symbols)
    for t, refs in enumerate(series_refs):
        req.timeseries.add(labels_refs=refs).samples.add(timestamp=1000 * (t + 1), value=1.0)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


@pytest.mark.parametrize(
    ("refs", "message"),
    [([1, 2, 3], "an odd number of label references"), ([1, 9], "refers to symbol 9")],
)
def test_bad_label_references_cost_only_their_series(
    client: TestClient, refs: list[int], message: str
) -> None:
    body = _request([[1, 2], refs], ["", "__name__", "up", "job"])
    r = write_v2(client, body)
    assert r.status_code == 400 and r.headers[WRITTEN] == "1"
    assert "invalid_labels: 1 sample(s), the first of series timeseries[1]: " in r.json()["detail"]
    assert message in r.json()["detail"]
    assert stored(client, {"__name__": "up"}) == [(1.0, 1.0)]


def test_a_body_of_the_other_version_is_refused_not_dropped(client: TestClient) -> None:
    v1_body = remote_write.encode([(LABELS, [(1000, 1.0)])])
    r = write_v2(client, v1_body)
    assert r.status_code == 400 and "starts like a remote-write 1.0" in r.json()["detail"]
    v2_body = remote_write_v2.encode_v2([(LABELS, [(1000, 1.0)])])
    r = client.post("/api/v1/write", content=v2_body)
    assert r.status_code == 400 and "proto=io.prometheus.write.v2.Request" in r.json()["detail"]
    assert client.get("/v1/series").json()["series"] == []


def _v2(raw_v1_series: list, limit: int) -> remote_write.Decoded:
    return remote_write_v2.decode_v2(
        remote_write_v2.encode_v2(raw_v1_series), max_decompressed=10**8, max_samples=limit
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_requests_decode_like_1_0(seed: int) -> None:
    """The same series sent as 2.0 and as 1.0 decode alike (samples, skips, refusals)."""
    series = _random_request(np.random.default_rng(seed))
    raw_v1 = bytes(cramjam.snappy.decompress_raw(remote_write.encode(series)))
    if not series:  # an empty 2.0 request: nothing to compare
        return
    got = _outcome(lambda _raw, limit: _v2(series, limit), b"")
    assert got == _outcome(remote_write.decode_messages, raw_v1)
