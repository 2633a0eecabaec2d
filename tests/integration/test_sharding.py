"""Sharding with Prometheus itself: two anomalyd replicas and a real Prometheus whose
``remote_write`` entries come from ``deploy/prometheus/shards.py``. Every series lands on exactly
one replica and is scored there; each replica's ``anomalyd_series`` gauge counts what it holds.
Skipped without Debian's ``prometheus`` (a failure with ``CI=true``)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration._server import ROOT, Server, free_port, system_binary, wait_until
from tests.integration.test_prometheus import Process, prometheus_cmd

HOSTS = [f"h{i:02d}" for i in range(24)]
SCRIPT = ROOT / "deploy" / "prometheus" / "shards.py"
ENV = {
    "ANOMALYD_DEFAULT_DETECTOR": "mad",
    "ANOMALYD_DEFAULT_TRAIN_POINTS": "10",
    "ANOMALYD_DEFAULT_PARAMS": '{"window": 4}',
}


class Exporter(BaseHTTPRequestHandler):
    """``demo_load{host=...}``: one gauge per host, new noise at every scrape."""

    rng = np.random.default_rng(0)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        values = self.rng.normal(1.0, 0.1, len(HOSTS))
        body = "".join(f'demo_load{{host="{h}"}} {v}\n' for h, v in zip(HOSTS, values, strict=True))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _config(tmp: Path, exporter_port: int, replicas: list[Server]) -> Path:
    urls = [a for r in replicas for a in ("--url", f"{r.url}/api/v1/write")]
    generated = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(len(replicas)),
            *urls,
            "--labels",
            "__name__,host",
            "--keep",
            "demo_load",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 250ms, scrape_timeout: 200ms}\n"
        "scrape_configs:\n"
        f"  - {{job_name: demo, static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]}}\n"
        + generated.replace("queue_config: {", "queue_config: {batch_send_deadline: 250ms, ")
    )
    return cfg


def _held(replica: Server) -> dict[str, dict[str, Any]]:
    """host -> series of one replica."""
    listed = httpx.get(f"{replica.url}/v1/series").json()["series"]
    return {s["labels"]["host"]: s for s in listed}


@pytest.mark.slow
def test_every_series_lands_on_exactly_one_replica_and_is_scored(
    tmp_path: Path, exporter: int
) -> None:
    prometheus = system_binary(("prometheus",), "`prometheus`")
    replicas = [Server(tmp_path / f"replica{i}", ENV) for i in range(2)]
    prom = None
    try:
        for r in replicas:
            r.start()
        cfg = _config(tmp_path, exporter, replicas)
        promtool = system_binary(("promtool",), "`prometheus`")
        check = subprocess.run(
            [promtool, "check", "config", str(cfg)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        port = free_port()
        prom = Process(prometheus_cmd(prometheus, tmp_path, cfg, port), port, tmp_path / "p.log")
        prom.wait_ready()
        arrived = lambda: sum(len(_held(r)) for r in replicas) == len(HOSTS)  # noqa: E731
        wait_until(arrived, "all series arrive", 90)
        held = [_held(r) for r in replicas]
        assert set(held[0]).isdisjoint(held[1]) and set(held[0]) | set(held[1]) == set(HOSTS)
        assert min(len(h) for h in held) >= 6, [len(h) for h in held]  # both hold a real shard
        scored = lambda: all(s["scored"] > 10 for r in replicas for s in _held(r).values())  # noqa: E731
        wait_until(scored, "every series scored", 90)
        for r, mine in zip(replicas, held, strict=True):
            assert all(s["model_version"] >= 1 for s in _held(r).values())
            assert _series_gauge(r) == len(mine)
    finally:
        if prom is not None:
            prom.stop()
        for r in replicas:
            r.stop()


def _series_gauge(replica: Server) -> float:
    """The replica's ``anomalyd_series`` summed over statuses: how many series it holds."""
    lines = httpx.get(f"{replica.url}/metrics").text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith("anomalyd_series{"))
