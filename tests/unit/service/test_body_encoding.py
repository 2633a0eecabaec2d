"""Compressed REST bodies: gzip is inflated within a limit, other encodings are refused."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from fastapi.testclient import TestClient

from anomalyd.service.body_encoding import TooLarge, gunzip
from tests.unit.service.conftest import ClientFactory

POINTS = {"timestamps": [1.0, 2.0, 3.0], "values": [1.0, 2.0, 3.0]}
PATH = "/v1/series/s/points"
GZIPPED = gzip.compress(json.dumps(POINTS).encode())


def _post(client: TestClient, body: bytes, encoding: str) -> tuple[int, str]:
    headers = {"content-type": "application/json", "content-encoding": encoding}
    r = client.post(PATH, content=body, headers=headers)
    return r.status_code, str(r.json().get("detail", ""))


def _points(client: TestClient) -> int | None:
    r = client.get("/v1/series/s")
    return r.json()["points"] if r.status_code == 200 else None


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "identity, GZIP"])
def test_a_gzip_body_is_stored_as_the_plain_one(client: TestClient, encoding: str) -> None:
    padded = gzip.compress(json.dumps(POINTS).encode()) + b"\0" * 8
    assert _post(client, padded, encoding)[0] == 200
    assert _points(client) == 3


def test_requests_without_a_body_and_remote_write_pass_untouched(client: TestClient) -> None:
    assert client.get("/v1/series", headers={"content-encoding": "br"}).status_code == 200
    headers = {"content-encoding": "gzip", "content-type": "application/x-protobuf"}
    r = client.post("/api/v1/write", content=gzip.compress(b"x"), headers=headers)
    assert r.status_code == 415 and "remote-write bodies are snappy" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "encoding", "status", "message"),
    [
        (json.dumps(POINTS).encode(), "br", 415, "Content-Encoding 'br' is not supported"),
        (GZIPPED, "gzip, gzip", 415, "Content-Encoding 'gzip, gzip' is not supported"),
        (b"not gzip", "gzip", 400, "The body is not valid gzip"),
        (GZIPPED[:-12], "gzip", 400, "not valid gzip"),
        (GZIPPED + GZIPPED, "gzip", 400, "data follows the gzip stream's end"),
        (gzip.compress(b" " * 5000), "gzip", 413, "inflates past the limit of 4096 bytes"),
    ],
    ids=["brotli", "twice", "not-gzip", "cut-short", "two-members", "too-large-inflated"],
)
def test_bodies_that_cannot_be_read_are_refused_and_change_nothing(
    make_client: ClientFactory, body: bytes, encoding: str, status: int, message: str
) -> None:
    with make_client(max_body_bytes=4096) as client:
        got_status, detail = _post(client, body, encoding)
        assert (got_status, message in detail) == (status, True), detail
        assert _points(client) is None


def test_gunzip_stops_at_the_limit() -> None:
    assert gunzip(gzip.compress(b"abcd"), 4) == b"abcd"
    with pytest.raises(TooLarge):
        gunzip(gzip.compress(b"abcd"), 3)
    with pytest.raises(zlib.error):
        gunzip(gzip.compress(b"abcd")[:-3], 10)
