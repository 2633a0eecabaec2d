"""kill -9 mid-stream: every acknowledged point survives and later scores equal an
uninterrupted run (and the batch computation)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from anomalyd.detectors import registry
from tests.integration._server import Server

N, TRAIN, WINDOW, CHUNK = 360, 100, 16, 6
ENV = {
    "ANOMALYD_DEFAULT_DETECTOR": "mad",
    "ANOMALYD_DEFAULT_TRAIN_POINTS": str(TRAIN),
    "ANOMALYD_DEFAULT_PARAMS": f'{{"window": {WINDOW}}}',
    "ANOMALYD_DEFAULT_REFIT_EVERY": "120",
    "ANOMALYD_BATCH_LINGER_S": "0",
}


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(11)
    t = np.arange(N)
    x = np.sin(2 * np.pi * t / 30) + 0.2 * rng.normal(size=N)
    x[200] += 5
    return x


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.kill()


def post(url: str, lo: int, hi: int, x: np.ndarray) -> httpx.Response:
    body = {"timestamps": list(range(lo, hi)), "values": x[lo:hi].tolist()}
    return httpx.post(f"{url}/v1/series/dur/points", json=body, timeout=30)


class Writer(threading.Thread):
    """Sends chunks in order until told to stop or the server dies; records the acked end."""

    def __init__(self, url: str, x: np.ndarray, start: int) -> None:
        super().__init__(daemon=True)
        self.url, self.x, self.next = url, x, start
        self.acked = start

    def run(self) -> None:
        while self.next < N:
            hi = min(self.next + CHUNK, N)
            try:
                r = post(self.url, self.next, hi, self.x)
            except httpx.TransportError:
                return
            if r.status_code != 200:
                raise AssertionError(r.text)
            self.acked = self.next = hi


def stored(url: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pts = httpx.get(f"{url}/v1/series/dur/scores", params={"limit": 10_000}).json()["points"]
    ts = np.array([p["timestamp"] for p in pts])
    values = np.array([p["value"] for p in pts])
    raw = np.array([np.nan if p["raw_score"] is None else p["raw_score"] for p in pts])
    return ts, values, raw


def wait_idle(url: str) -> None:
    for _ in range(500):
        if httpx.get(f"{url}/v1/series/dur").json()["pending"] == 0:
            return
        time.sleep(0.02)


def check_acknowledged(url: str, x: np.ndarray, acked: int) -> None:
    """Every acknowledged point is stored bit for bit; an unacknowledged in-flight write may
    also have committed, but nothing else."""
    ts, values, _ = stored(url)
    assert len(ts) >= acked
    np.testing.assert_array_equal(ts, np.arange(len(ts)))
    np.testing.assert_array_equal(values, x[: len(ts)])


def run_with_kills(tmp_path: Path, x: np.ndarray, servers: list[Server], kill_at: list[int]) -> str:
    server = Server(tmp_path / "killed", ENV)
    servers.append(server.start())
    acked = 0
    for target in kill_at:
        writer = Writer(server.url, x, acked)
        writer.start()
        while writer.acked < target and writer.is_alive():
            time.sleep(0.002)
        server.kill()  # kill -9 while the writer is mid-stream
        writer.join(timeout=30)
        acked = writer.acked
        server = Server(server.data_dir, ENV, port=server.port)
        servers.append(server.start())
        check_acknowledged(server.url, x, acked)
    writer = Writer(server.url, x, acked)  # resends the unacknowledged chunk: idempotent
    writer.run()
    assert writer.acked == N
    wait_idle(server.url)
    return server.url


def test_kill_9_mid_stream(tmp_path: Path, data: np.ndarray, servers: list[Server]) -> None:
    killed_url = run_with_kills(tmp_path, data, servers, kill_at=[60, 250])
    ref = Server(tmp_path / "uninterrupted", ENV)
    servers.append(ref.start())
    writer = Writer(ref.url, data, 0)
    writer.run()
    wait_idle(ref.url)

    ts_k, values_k, raw_k = stored(killed_url)
    ts_r, values_r, raw_r = stored(ref.url)
    np.testing.assert_array_equal(values_k, data)
    np.testing.assert_array_equal(raw_k, raw_r)  # NaN (warm-up) positions included
    # and both equal the batch computation, model by model (refit every 120 points)
    for start, stop in ((TRAIN, 220), (220, 340), (340, N)):
        det = registry.create("mad", {"window": WINDOW}).fit(data[start - TRAIN : start])
        np.testing.assert_allclose(raw_k[start:stop], det.score(data[:stop])[start:], atol=1e-9)
    assert np.isnan(raw_k[:TRAIN]).all()
