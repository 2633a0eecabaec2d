"""`make run`: the service on its embedded defaults, fed a bundled real series as a live stream."""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from anomalyd.service.app import create_app
from anomalyd.service.server import build_registry
from anomalyd.service.settings import load_settings

DEMO_CSV = Path(__file__).parent / "demo_data" / "nab_ec2_cpu_utilization_825cc2.csv"
SERIES = "demo-ec2-cpu"


def _rows() -> list[tuple[float, float, int]]:
    """(timestamp, value, NAB label) of every row of the bundled series."""
    with DEMO_CSV.open(newline="") as fh:
        return [
            (
                datetime.fromisoformat(r["timestamp"] + "+00:00").timestamp(),
                float(r["value"]),
                int(r["label"]),
            )
            for r in csv.DictReader(fh)
        ]


def _start_server(host: str, port: int, data_dir: Path) -> uvicorn.Server:
    app = create_app(load_settings(data_dir=data_dir), build_registry())
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


@dataclass
class Episodes:
    """Alerts grouped as an operator sees them: a run of alerting points (gaps of at most an
    hour merged), printed when it ends, with its peak score and whether NAB labels it."""

    console: Console
    labels: list[int]
    rows: list[tuple[float, float, int]]
    open_at: int | None = None
    last: int = 0
    peak: float = 0.0
    seen: list[bool] = field(default_factory=list)

    def point(self, i: int, score: float | None) -> None:
        if self.open_at is not None and i - self.last > 12:
            self.close()
        if score is not None and score > 1:
            if self.open_at is None:
                self.open_at, self.peak = i, 0.0
            self.last, self.peak = i, max(self.peak, score)

    def close(self) -> None:
        if self.open_at is None:
            return
        lo, hi = self.open_at, self.last
        labelled = any(self.labels[max(lo - 12, 0) : hi + 1])
        when = datetime.fromtimestamp(self.rows[lo][0], UTC).strftime("%Y-%m-%d %H:%M")
        where = "NAB labels an anomaly here" if labelled else "no NAB label here"
        self.console.print(
            f"ALERT {when} UTC, points {lo}-{hi} ({(hi - lo + 1) * 5} min): peak anomaly_score "
            f"{self.peak:.2f} {_severity(self.peak)}; {where}"
        )
        self.seen.append(labelled)
        self.open_at = None


def replay(base: str, console: Console, *, rate: float, chunk: int) -> None:
    """Send the series in chunks, with the service's defaults (nothing configured); print each
    alert episode as it ends and whether NAB labels an anomaly there, then a summary."""
    rows = _rows()
    episodes = Episodes(console, [lab for _, _, lab in rows], rows)
    with httpx.Client(base_url=base, timeout=60) as client:
        start = len(client.get(f"/v1/series/{SERIES}/scores").json().get("points", []))
        done = _resume(client, rows, start, episodes, console)
        for i in range(start, len(rows), chunk):
            part = rows[i : i + chunk]
            body = {"timestamps": [t for t, _, _ in part], "values": [v for _, v, _ in part]}
            client.post(f"/v1/series/{SERIES}/points", json=body).raise_for_status()
            done = _read_final(client, rows, done, episodes)
            if (i // chunk) % 29 == 0:
                console.print(f"[dim]point {i + len(part):5d}/{len(rows)}[/dim]")
            time.sleep(chunk / rate)
        while done < len(rows):  # the last points may wait for a refit
            time.sleep(0.5)
            done = _read_final(client, rows, done, episodes)
    episodes.close()
    _summary(console, episodes)


def _resume(
    client: httpx.Client,
    rows: list[tuple[float, float, int]],
    start: int,
    episodes: Episodes,
    console: Console,
) -> int:
    """When the data folder already holds ``start`` points (``make run`` again), hand their
    final scores to ``episodes`` first, so that the summary covers every point; the points
    done."""
    if not start:
        return 0
    console.print(f"resuming after the {start} points already stored; their alerts first")
    return _read_final(client, rows, 0, episodes)


def _read_final(
    client: httpx.Client, rows: list[tuple[float, float, int]], done: int, episodes: Episodes
) -> int:
    """Hand the points with final scores after ``done`` to ``episodes``; the new ``done``.
    (A write's reply may come before its points are scored: they can wait for a refit.)"""
    scored = client.get(f"/v1/series/{SERIES}").json()["scored"]
    if scored <= done:
        return done
    params = {"start": repr(rows[done][0]), "limit": scored - done}
    points = client.get(f"/v1/series/{SERIES}/scores", params=params).json()["points"]
    for j, p in enumerate(points, start=done):
        episodes.point(j, p["anomaly_score"])
    return done + len(points)


def _severity(score: float) -> str:
    return "[red]critical[/red]" if score > 2 else "[yellow]warning[/yellow]"


def _summary(console: Console, episodes: Episodes) -> None:
    labels = episodes.labels
    windows = sum(1 for i in range(len(labels)) if labels[i] and (i == 0 or not labels[i - 1]))
    console.print(
        f"{len(episodes.seen)} alert episodes over {len(labels)} points (14 days at 5 minutes); "
        f"{sum(episodes.seen)} of them at NAB's {windows} labelled anomaly window(s)"
    )


def run_demo(host: str, port: int, data_dir: Path, *, rate: float = 50.0, chunk: int = 10) -> None:
    """Serve, print where to look, replay the bundled NAB series, then keep serving."""
    console = Console()
    server = _start_server(host, port, data_dir)
    base = f"http://{host}:{port}"
    console.print(f"anomalyd is up: dashboard {base}/dashboard/ (live view: the demo series)")
    console.print(f"API docs {base}/docs, metrics {base}/metrics, data in {data_dir}")
    console.print(f"replaying NAB ec2_cpu_utilization_825cc2 (MIT) into series {SERIES!r}")
    replay(base, console, rate=rate, chunk=chunk)
    console.print(f"replay done; scores at {base}/v1/series/{SERIES}/scores. Ctrl-C to stop.")
    try:
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
