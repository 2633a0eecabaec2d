"""Real Prometheus + Alertmanager (Debian ``prometheus``, ``prometheus-alertmanager``).

Prometheus scrapes the service, evaluates the rules shipped in ``deploy/prometheus/`` (their
``for:`` durations shortened), sends the alerts to a real Alertmanager, and remote-writes a
scraped metric into ``/api/v1/write``. The example Alertmanager configuration mutes a series'
warning while its critical alert fires. Two scrape jobs act as an HA pair (a replica label
each): the service keeps one series per target. Skipped when the binaries are missing, except with
``CI=true`` where that is a failure.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from anomalyd.service.cli import app as cli_app
from tests.integration._server import (
    ROOT,
    Server,
    answers_ok,
    free_port,
    system_binary,
    wait_until,
)

RULES = ROOT / "deploy" / "prometheus" / "anomalyd-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "anomalyd-rules.test.yml"
INPUT_RULES = ROOT / "deploy" / "prometheus" / "anomalyd-inputs.yml"
INPUT_RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "anomalyd-inputs.test.yml"
EXAMPLE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
AM_EXAMPLE = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
TOKEN = "integration-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def binary(*names: str) -> str:
    """Path of the first binary found; skip (fail under CI=true) when none is installed."""
    return system_binary(names, "`prometheus` and `prometheus-alertmanager`")


def run(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def test_promtool_checks_shipped_files() -> None:
    promtool = binary("promtool")
    assert "SUCCESS" in run([promtool, "check", "rules", str(RULES)])
    assert "SUCCESS" in run([promtool, "test", "rules", str(RULE_TESTS)])
    assert "SUCCESS" in run([promtool, "check", "rules", str(INPUT_RULES)])
    assert "SUCCESS" in run([promtool, "test", "rules", str(INPUT_RULE_TESTS)])
    assert "SUCCESS" in run([promtool, "check", "config", str(EXAMPLE_CONFIG)])
    amtool = binary("amtool")
    assert "SUCCESS" in run([amtool, "check-config", str(AM_EXAMPLE)])


def test_every_shipped_alert_has_a_promtool_test_case() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)", RULES.read_text(), re.MULTILINE))
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert len(alerts) >= 11 and alerts <= tested, alerts - tested


def test_backfilled_openmetrics_load_into_tsdb_blocks(tmp_path: Path) -> None:
    """``anomalyd backfill --output X.om`` gives a file promtool turns into TSDB blocks, every
    scored point one sample (two families) of one series per family and input file."""
    promtool = binary("promtool")
    rng = np.random.default_rng(3)
    for name in ("web", "db"):
        values = np.sin(np.arange(600) / 20) + 0.1 * rng.normal(size=600)
        rows = "".join(f"{1.7e9 + 300 * i:.0f},{v}\n" for i, v in enumerate(values))
        (tmp_path / f"{name}.csv").write_text("timestamp,value\n" + rows)
    out = tmp_path / "scores.om"
    args = ["backfill", str(tmp_path / "web.csv"), str(tmp_path / "db.csv"), "--output", str(out),
            "--detector", "mad", "--param", "window=16", "--fit-window", "200"]  # fmt: skip
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    scored = sum(line.startswith("anomaly_score{") for line in out.read_text().splitlines())
    table = run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(out), str(tmp_path / "db")]
    )
    blocks = [line.split() for line in table.splitlines() if re.match(r"^[0-9A-Z]{26} ", line)]
    samples = sum(int(b[4]) for b in blocks)  # NUM SAMPLES, NUM SERIES per block
    assert samples == 2 * scored > 0
    assert max(int(b[6]) for b in blocks) == 4  # 2 families x 2 series


class Process:
    """A child process with its output in a log file, ready when ``/-/ready`` answers."""

    def __init__(self, cmd: list[str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as f:
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        ready = f"{self.url}/-/ready"
        wait_until(lambda: answers_ok(ready, self.proc, self.log), f"{ready} ({self.log})", timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    prometheus = binary("prometheus")
    alertmanager = binary("prometheus-alertmanager", "alertmanager")
    env = {
        "ANOMALYD_API_TOKEN": TOKEN,
        "ANOMALYD_DEFAULT_DETECTOR": "mad",
        "ANOMALYD_DEFAULT_TRAIN_POINTS": "20",
        "ANOMALYD_DEFAULT_PARAMS": '{"window": 4}',
    }
    service = Server(tmp_path / "anomalyd", env)
    procs: list[Process] = []
    try:
        service.start()
        am_port, prom_port = free_port(), free_port()
        am = Process(
            alertmanager_cmd(alertmanager, tmp_path, am_port), am_port, tmp_path / "am.log"
        )
        procs.append(am)
        am.wait_ready()
        cfg = write_prometheus_config(tmp_path, service.port, am_port)
        prom = Process(
            prometheus_cmd(prometheus, tmp_path, cfg, prom_port), prom_port, tmp_path / "prom.log"
        )
        procs.append(prom)
        prom.wait_ready()
        yield {"service": service, "am": am, "prom": prom, "tmp": tmp_path}
    finally:
        for p in reversed(procs):
            p.stop()
        service.stop()


def alertmanager_cmd(
    binary_path: str, tmp: Path, port: int, config: str | None = None
) -> list[str]:
    cfg = tmp / "alertmanager.yml"
    blackhole = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"
    cfg.write_text(blackhole if config is None else config)
    return [
        binary_path,
        f"--config.file={cfg}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]


def prometheus_cmd(binary_path: str, tmp: Path, cfg: Path, port: int) -> list[str]:
    return [
        binary_path,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]


RATE = "job:anomalyd_points_ingested:rate5s"
#: a counter's rate recorded as deploy/prometheus/anomalyd-inputs.yml records one (of a counter
#: the test stack has: anomalyd's own), remote-written like a scraped series
RECORDED_RATE = f"""
groups:
  - name: inputs
    interval: 500ms
    rules:
      - record: {RATE}
        expr: sum by (job) (rate(anomalyd_points_ingested_total[5s]))
"""


def write_prometheus_config(tmp: Path, service_port: int, am_port: int) -> Path:
    rules = re.sub(r"for: \d+m", "for: 2s", RULES.read_text())  # the shipped rules, faster
    (tmp / "rules.yml").write_text(rules)
    (tmp / "inputs.yml").write_text(RECORDED_RATE)
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        f"""
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
  evaluation_interval: 500ms
rule_files: [{tmp / "rules.yml"}, {tmp / "inputs.yml"}]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
scrape_configs:
  - job_name: anomalyd
    honor_labels: true
    relabel_configs: [{{source_labels: [__address__], target_label: anomalyd_instance}}]
    scrape_interval: 250ms
    scrape_timeout: 200ms
    static_configs: [{{targets: ["127.0.0.1:{service_port}"]}}]
remote_write:
  - url: http://127.0.0.1:{service_port}/api/v1/write
    authorization: {{credentials: {TOKEN}}}
    write_relabel_configs:
      - {{source_labels: [__name__], regex: "scrape_duration_seconds|{RATE}", action: keep}}
    queue_config:
      {{batch_send_deadline: 250ms, min_backoff: 50ms, max_backoff: 1s, retry_on_http_429: true}}
"""
    )
    return cfg


def eventually(check: Callable[[], Any], timeout: float, what: str, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def feed_spike(url: str) -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=40)
    values[-1] = 25.0  # the last point, so the gauge stays above the line
    body = {"timestamps": list(range(40)), "values": values.tolist()}
    put = {"params": {"window": 4}, "train_points": 30, "labels": {"instance": "elsewhere:1"}}
    assert httpx.put(f"{url}/v1/series/spiky", json=put, headers=AUTH).status_code == 201
    r = httpx.post(f"{url}/v1/series/spiky/points", json=body, headers=AUTH, timeout=30)
    assert r.status_code == 200 and r.json()["scores"][-1]["anomalous"] is True, r.text


def alerts(am_url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{am_url}/api/v2/alerts").json()
    return found


def test_alert_reaches_alertmanager_and_remote_write_is_scored(stack: dict[str, Any]) -> None:
    service, am, prom = stack["service"], stack["am"], stack["prom"]
    logs = [prom.log, am.log, service.log]
    feed_spike(service.url)
    stop = threading.Event()

    def send_bad_points() -> None:  # drives the AnomalydPointsRejected self-monitoring alert
        while not stop.is_set():
            body = {"timestamps": [2, 1], "values": [1, 2]}
            # a busy 2-core host can answer slowly; the next attempt counts as well
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    f"{service.url}/v1/series/bad/points", json=body, headers=AUTH, timeout=30
                )
            stop.wait(0.3)

    sender = threading.Thread(target=send_bad_points, daemon=True)
    sender.start()
    try:

        def anomaly_alert() -> list[dict[str, Any]]:
            return [
                a
                for a in alerts(am.url)
                if a["labels"].get("alertname") == "AnomalyWarning"
                and a["labels"].get("series") == "spiky"
            ]

        [alert] = eventually(anomaly_alert, 90, "AnomalyWarning in Alertmanager", logs)
        assert alert["labels"]["detector"] == "mad"
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["summary"].startswith("Anomaly in series spiky")
        runbook = f"{service.url}/dashboard/runbook.html#AnomalyWarning"  # not elsewhere:1
        assert alert["annotations"]["runbook_url"] == runbook

        def rejected_alert() -> bool:
            names = {a["labels"].get("alertname") for a in alerts(am.url)}
            return "AnomalydPointsRejected" in names

        eventually(rejected_alert, 60, "AnomalydPointsRejected in Alertmanager", logs)
    finally:
        stop.set()
        sender.join(timeout=5)

    def remote_written() -> list[dict[str, Any]]:
        series = httpx.get(f"{service.url}/v1/series").json()["series"]
        return [
            s
            for s in series
            if s["labels"].get("__name__") == "scrape_duration_seconds"
            and s["status"] == "ready"
            and s["last_anomaly_score"] is not None
        ]

    [rw] = eventually(remote_written, 90, "remote-written series scored", logs)
    assert rw["source"] == "remote_write" and rw["labels"]["job"] == "anomalyd"
    listed = httpx.get(f"{service.url}/v1/series").json()["series"]
    [rate] = [s for s in listed if s["labels"].get("__name__") == RATE]
    assert rate["source"] == "remote_write" and rate["points"] > 0
    scores = httpx.get(f"{service.url}/v1/series/{rw['id']}/scores").json()["points"]
    assert any(p["anomaly_score"] is not None for p in scores)

    query = 'anomaly_score{series="spiky"}'
    result = httpx.get(f"{prom.url}/api/v1/query", params={"query": query}).json()
    [sample] = result["data"]["result"]
    assert float(sample["value"][1]) > 1 and sample["metric"]["detector"] == "mad"


def _anomaly(name: str, series: str) -> dict[str, Any]:
    severity = "critical" if name == "AnomalyCritical" else "warning"
    labels = {"alertname": name, "series": series, "detector": "mad", "severity": severity}
    return {"labels": labels, "annotations": {"summary": f"{name} {series}"}}


def test_example_alertmanager_mutes_warning_while_critical_fires(tmp_path: Path) -> None:
    """The shipped inhibit rule: a's warning is muted by a's critical, b's warning is not."""
    port = free_port()
    cmd = alertmanager_cmd(
        binary("prometheus-alertmanager", "alertmanager"), tmp_path, port, AM_EXAMPLE.read_text()
    )
    am = Process(cmd, port, tmp_path / "am.log")
    try:
        am.wait_ready()
        sent = [_anomaly("AnomalyCritical", "a"), _anomaly("AnomalyWarning", "a")]
        sent.append(_anomaly("AnomalyWarning", "b"))
        assert httpx.post(f"{am.url}/api/v2/alerts", json=sent).status_code == 200

        def states() -> dict[tuple[str, str], str] | None:
            found = {
                (a["labels"]["alertname"], a["labels"]["series"]): a["status"]["state"]
                for a in alerts(am.url)
            }
            muted = found.get(("AnomalyWarning", "a")) == "suppressed"
            return found if muted and len(found) == len(sent) else None

        found = eventually(states, 30, "the warning of series a muted", [am.log])
        assert found[("AnomalyCritical", "a")] == "active"
        assert found[("AnomalyWarning", "b")] == "active"
    finally:
        am.stop()


def write_ha_config(tmp: Path, service_port: int) -> Path:
    """Two scrape jobs of one target, each a 'replica': the relabel rules give both the same
    ``job`` and their own ``prometheus_replica`` label, as an HA pair's external labels do."""
    jobs = "".join(
        f"""
  - job_name: replica-{r}
    scrape_interval: 250ms
    scrape_timeout: 200ms
    static_configs: [{{targets: ["127.0.0.1:{service_port}"]}}]
    relabel_configs:
      - {{target_label: job, replacement: ha}}
      - {{target_label: prometheus_replica, replacement: "{r}"}}"""
        for r in "ab"
    )
    cfg = tmp / "prometheus-ha.yml"
    cfg.write_text(
        f"""
global: {{scrape_interval: 250ms, scrape_timeout: 200ms}}
scrape_configs:{jobs}
remote_write:
  - url: http://127.0.0.1:{service_port}/api/v1/write
    write_relabel_configs:
      - {{source_labels: [__name__], regex: "up|scrape_duration_seconds", action: keep}}
    queue_config: {{batch_send_deadline: 250ms, min_backoff: 50ms, max_backoff: 1s}}
"""
    )
    return cfg


def test_ha_replicas_remote_write_one_series_per_target(tmp_path: Path) -> None:
    prometheus = binary("prometheus")
    env = {"ANOMALYD_REMOTE_WRITE_REPLICA_LABEL": "prometheus_replica"}
    service = Server(tmp_path / "anomalyd", env)
    prom = None
    try:
        service.start()
        port = free_port()
        cfg = write_ha_config(tmp_path, service.port)
        prom = Process(prometheus_cmd(prometheus, tmp_path, cfg, port), port, tmp_path / "p.log")
        prom.wait_ready()

        def both_metrics_growing() -> list[dict[str, Any]]:
            series = httpx.get(f"{service.url}/v1/series").json()["series"]
            ha = [s for s in series if s["labels"].get("job") == "ha"]
            return ha if len(ha) >= 2 and min(s["points"] for s in ha) >= 12 else []

        ha = eventually(both_metrics_growing, 90, "remote-written HA series", [prom.log])
        assert sorted(s["labels"]["__name__"] for s in ha) == ["scrape_duration_seconds", "up"]
        assert all("prometheus_replica" not in s["labels"] for s in ha)
        metrics = httpx.get(f"{service.url}/metrics").text
        assert 'reason="ha_replica",source="remote_write"}' in metrics
        assert 'reason="out_of_order"' not in metrics
    finally:
        if prom is not None:
            prom.stop()
        service.stop()


def test_backfill_from_prometheus_equals_backfill_from_csv(tmp_path: Path) -> None:
    """Two known series loaded into a real Prometheus (TSDB blocks from promtool), backfilled
    through query_range in several chunks, score exactly as the same series from CSV files."""
    promtool, prometheus = binary("promtool"), binary("prometheus")
    n, step, t0 = 25_000, 15, 1_600_000_020  # 25,000 points: three 11,000-point chunks
    rng = np.random.default_rng(5)
    series = {h: np.round(rng.normal(50, 5, n) + 20 * (np.arange(n) % 997 == 0), 3) for h in "ab"}
    lines = ["# TYPE demo gauge", f'demo{{host="nan"}} NaN {t0}']  # not data: skipped
    lines += [f'demo{{host="huge"}} 2e301 {t0 + step * i}' for i in range(3)]  # not scored
    for host, values in series.items():
        lines += [f'demo{{host="{host}"}} {v} {t0 + step * i}' for i, v in enumerate(values)]
        rows = "".join(f"{t0 + step * i},{v}\n" for i, v in enumerate(values))
        (tmp_path / f"host_{host}.csv").write_text("timestamp,value\n" + rows)
    (tmp_path / "demo.om").write_text("\n".join(lines) + "\n# EOF\n")
    run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "demo.om"),
         str(tmp_path / "tsdb")])  # fmt: skip
    (tmp_path / "empty.yml").write_text("global: {}\n")
    port = free_port()
    cmd = prometheus_cmd(prometheus, tmp_path, tmp_path / "empty.yml", port)
    prom = Process([*cmd, "--storage.tsdb.retention.time=100y"], port, tmp_path / "prom.log")
    try:
        prom.wait_ready()
        common = ["--detector", "mad", "--param", "window=8", "--fit-window", "500",
                  "--fit-every", "2000"]  # fmt: skip
        out_prom, out_csv = tmp_path / "prom.csv", tmp_path / "csv.csv"
        end = str(t0 + step * (n - 1))
        source = ["--prometheus", prom.url, "--query", "demo", "--start", str(t0), "--end", end]
        args = ["backfill", "--output", str(out_prom), *source, "--step", f"{step}s", *common]
        result = CliRunner().invoke(cli_app, args)
        assert result.exit_code == 0, result.output
        csv_args = ["backfill", str(tmp_path / "host_a.csv"), str(tmp_path / "host_b.csv"),
                    "--output", str(out_csv), *common]  # fmt: skip
        assert CliRunner().invoke(cli_app, csv_args).exit_code == 0
        bad = [a if a != "demo" else "demo{" for a in args]
        refused = CliRunner().invoke(cli_app, [*bad[:2], str(tmp_path / "bad.csv"), *bad[3:]])
        assert refused.exit_code == 2 and "Prometheus refused the query" in refused.output
        assert not (tmp_path / "bad.csv").exists()
    finally:
        prom.stop()
    from_prom = _rows_by_series(out_prom)
    from_csv = _rows_by_series(out_csv)
    assert set(from_prom) == {'demo{host="a"}', 'demo{host="b"}'}  # NaN-, 2e301-only: no rows
    for host in "ab":
        got, want = from_prom[f'demo{{host="{host}"}}'], from_csv[f"host_{host}"]
        assert len(got) == len(want) == n
        assert got == want  # timestamps, values, raw and alert scores, alerts: all equal


def _rows_by_series(path: Path) -> dict[str, list[tuple[str, ...]]]:
    import csv

    out: dict[str, list[tuple[str, ...]]] = {}
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["series"], []).append(
                (r["timestamp"], r["value"], r["raw_score"], r["anomaly_score"], r["anomalous"])
            )
    return out
