"""Write endpoints need the bearer token when ANOMALYD_API_TOKEN is set; reads do not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from anomalyd.service import remote_write
from tests.unit.service.conftest import ClientFactory

TOKEN = "s3cret"
WRITES = [
    ("put", "/v1/series/a", {"json": {}}),
    ("post", "/v1/series/a/points", {"json": {"timestamps": [1], "values": [1]}}),
    ("delete", "/v1/series/a", {}),
    ("post", "/api/v1/write", {"content": remote_write.encode([({"__name__": "m"}, [(1, 1)])])}),
]


@pytest.fixture
def secured(make_client: ClientFactory) -> Iterator[TestClient]:
    with make_client(api_token=TOKEN) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "kwargs"), WRITES)
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_writes_refused_without_token(
    secured: TestClient, method: str, path: str, kwargs: dict[str, object], header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = getattr(secured, method)(path, headers=headers, **kwargs)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer <token>" in r.json()["detail"]


def test_writes_accepted_with_token(secured: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert secured.put("/v1/series/a", json={}, headers=auth).status_code == 201
    body = {"timestamps": [1], "values": [1]}
    assert secured.post("/v1/series/a/points", json=body, headers=auth).status_code == 200
    assert secured.delete("/v1/series/a", headers=auth).status_code == 204


def test_reads_are_open(secured: TestClient) -> None:
    for path in ("/v1/series", "/v1/detectors", "/metrics", "/healthz", "/readyz"):
        assert secured.get(path).status_code == 200, path


def test_no_token_configured_means_open(client: TestClient) -> None:
    assert client.put("/v1/series/a", json={}).status_code == 201
