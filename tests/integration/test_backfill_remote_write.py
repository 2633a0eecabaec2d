"""``anomalyd backfill --output URL``: backfilled scores remote-written into a real Prometheus.

Debian's ``prometheus`` with its remote-write receiver. Without an out-of-order window it
refuses history: the command says so and keeps what it scored; with the window set (a config
reload) ``--resume`` sends it, and the samples read back equal the CSV output's scores.
"""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from anomalyd.service.backfill import job_table
from anomalyd.service.cli import app as cli_app
from tests.integration._server import free_port
from tests.integration.test_prometheus import Process, binary, prometheus_cmd

COMMON = ["--detector", "mad", "--param", "window=8", "--fit-window", "200", "--fit-every", "500"]
STEP = 60


def test_scores_remote_written_into_prometheus_equal_the_csv_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a URL output's job table is kept
    prometheus = binary("prometheus")
    src = _series(tmp_path / "web.csv", 1500)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {}\n")
    port = free_port()
    cmd = prometheus_cmd(prometheus, tmp_path, cfg, port)
    extra = ["--web.enable-remote-write-receiver", "--web.enable-lifecycle"]
    prom = Process([*cmd, *extra], port, tmp_path / "prom.log")
    try:
        prom.wait_ready()
        url = f"{prom.url}/api/v1/write"
        args = ["backfill", str(src), "--output", url, *COMMON]
        refused = CliRunner().invoke(cli_app, args)
        said = " ".join(refused.output.split())
        assert refused.exit_code == 2 and "out_of_order_time_window" in said, said
        assert "run the same command with --resume" in said and job_table(url).exists()
        cfg.write_text("global: {}\nstorage:\n  tsdb:\n    out_of_order_time_window: 3650d\n")
        assert httpx.post(f"{prom.url}/-/reload").status_code == 200
        sent = CliRunner().invoke(cli_app, [*args, "--resume"])
        assert sent.exit_code == 0 and f"sent to {url}" in sent.output, sent.output
        assert not job_table(url).exists()
        stored = {name: _stored(prom.url, name) for name in ("anomaly_score", "anomaly_raw_score")}
    finally:
        prom.stop()
    out = tmp_path / "web-scores.csv"
    assert (
        CliRunner().invoke(cli_app, ["backfill", str(src), "-o", str(out), *COMMON]).exit_code == 0
    )
    rows = [r for r in csv.DictReader(out.open()) if r["anomaly_score"] != ""]
    for name, column in (("anomaly_score", "anomaly_score"), ("anomaly_raw_score", "raw_score")):
        want = [(round(float(r["timestamp"]) * 1000), float(r[column])) for r in rows]
        assert stored[name] == want, name


def _series(path: Path, n: int) -> Path:
    rng = np.random.default_rng(11)
    values = rng.normal(10, 1, n)
    values[1200] += 12
    t0 = 1_700_000_000
    path.write_text(
        "timestamp,value\n" + "".join(f"{t0 + STEP * i},{v}\n" for i, v in enumerate(values))
    )
    return path


def _stored(base: str, name: str) -> list[tuple[int, float]]:
    """Every raw sample of ``name{series="web"}`` (a range selector read at one instant)."""
    at = 1_700_000_000 + STEP * 1500
    query = f'{name}{{series="web",detector="mad"}}[{STEP * 1600}s]'
    answer = httpx.get(f"{base}/api/v1/query", params={"query": query, "time": at}).json()
    (result,) = answer["data"]["result"]
    return [(round(float(t) * 1000), float(v)) for t, v in result["values"]]
