"""Fixtures: an app on a temporary data dir with its own Prometheus registry."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from anomalyd.service.app import create_app
from anomalyd.service.settings import Settings

WINDOW = 8
TRAIN = 40
PARAMS = {"window": WINDOW}

ClientFactory = Callable[..., Any]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_client(data_dir: Path) -> Iterator[ClientFactory]:
    """``with make_client(**settings) as client`` runs a fresh app on the same data dir."""

    @contextmanager
    def factory(**overrides: Any) -> Iterator[TestClient]:
        settings = Settings(
            **{
                "data_dir": data_dir,
                "default_detector": "mad",  # cheap detector: these tests are about plumbing
                "default_train_points": TRAIN,
                "default_refit_every": 0,  # one model per series (refits: test_refit_every)
                "default_params": PARAMS,
                "batch_linger_s": 0.0,
                **overrides,
            }
        )
        app = create_app(settings, CollectorRegistry())
        with TestClient(app) as client:
            yield client

    yield factory


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    with make_client() as c:
        yield c


@pytest.fixture
def series_values() -> np.ndarray:
    """Seasonal noise with a spike at 100 and a level shift at 140: 180 points."""
    rng = np.random.default_rng(7)
    t = np.arange(180)
    x = np.sin(2 * np.pi * t / 20) + 0.1 * rng.normal(size=180)
    x[100] += 4.0
    x[140:] += 2.0
    return x


def post(client: TestClient, sid: str, ts: Any, values: Any, **kw: Any) -> Any:
    """POST points (lists or arrays)."""
    body = {"timestamps": list(np.asarray(ts).tolist()), "values": np.asarray(values).tolist()}
    return client.post(f"/v1/series/{sid}/points", json=body, **kw)


def wait_scored(client: TestClient, sid: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll until the series has no pending points (remote-write does not wait for scores)."""
    deadline = time.monotonic() + timeout
    while True:
        info: dict[str, Any] = client.get(f"/v1/series/{sid}").json()
        if info["pending"] == 0 or time.monotonic() > deadline:
            return info
        time.sleep(0.01)


def raw_scores(response_json: dict[str, Any]) -> list[float | None]:
    return [p["raw_score"] for p in response_json["scores"]]


def as_array(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def settle(client: TestClient, sid: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait until every stored point of ``sid`` is scored (a reply waits 10 s at most, and a
    busy host fits slower); the series' info."""
    deadline = time.monotonic() + timeout_s
    while True:
        info: dict[str, Any] = client.get(f"/v1/series/{sid}").json()
        if not info["pending"] or time.monotonic() > deadline:
            return info
        time.sleep(0.2)
