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


def _post(client: TestClient, body: bytes, encoding: str) -> tuple[int, str]:
    headers = {"content-type": "application/json", "content-encoding": encoding}
    r = client.post(PATH, content=body, headers=headers)
    return r.status_code, str(r.json().get("detail", ""))


def _points(client: TestClient) -> int | None:
    r = client.get("/v1/series/s")
    return r.json()["points"] if r.status_code == 200 else None


def test_a_gzip_body_is_stored_as_the_plain_one(client: TestClient) -> None:
    assert _post(client, gzip.compress(json.dumps(POINTS).encode()), "gzip")[0] == 200
    assert _points(client) == 3


@pytest.mark.parametrize(
    ("body", "encoding", "status", "message"),
    [
        (json.dumps(POINTS).encode(), "br", 415, "Content-Encoding 'br' is not supported"),
        (b"not gzip", "gzip", 400, "The body is not valid gzip"),
        (gzip.compress(json.dumps(POINTS).encode())[:-12], "gzip", 400, "not valid gzip"),
        (gzip.compress(b" " * 5000), "gzip", 413, "inflates past the limit of 4096 bytes"),
    ],
    ids=["brotli", "not-gzip", "cut-short", "too-large-inflated"],
)
def test_bodies_that_cannot_be_read_are_refused_and_change_nothing(
    make_client: ClientFactory, body: bytes, encoding: str, status: int, message: str
) -> None:
    with make_client(max_decompressed_bytes=4096) as client:
        got_status, detail = _post(client, body, encoding)
        assert (got_status, message in detail) == (status, True), detail
        assert _points(client) is None


def test_gunzip_reads_members_in_a_row_and_stops_at_the_limit() -> None:
    two = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert gunzip(two, 4) == b"abcd"
    with pytest.raises(TooLarge):
        gunzip(two, 3)
    with pytest.raises(zlib.error):
        gunzip(two[:-3], 10)
