"""`make run`: the service on its embedded defaults, fed a bundled real series as a live stream."""

from __future__ import annotations

import csv
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from service.app import create_app
from service.server import build_registry
from service.settings import load_settings

DEMO_CSV = Path(__file__).parent / "demo" / "nab_ec2_cpu_utilization_825cc2.csv"
SERIES = "demo-ec2-cpu"


def _rows() -> list[tuple[float, float]]:
    with DEMO_CSV.open(newline="") as fh:
        return [
            (datetime.fromisoformat(r["timestamp"] + "+00:00").timestamp(), float(r["value"]))
            for r in csv.DictReader(fh)
        ]


def _start_server(host: str, port: int, data_dir: Path) -> uvicorn.Server:
    app = create_app(load_settings(data_dir=data_dir), build_registry())
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def replay(base: str, console: Console, *, rate: float, chunk: int) -> None:
    """Send the series in chunks; print each chunk's highest anomaly score."""
    rows = _rows()
    with httpx.Client(base_url=base, timeout=30) as client:
        start = len(client.get(f"/v1/series/{SERIES}/scores").json().get("points", []))
        if start == 0:  # NAB's probationary period (15%) is the training span
            client.put(f"/v1/series/{SERIES}", json={"train_points": 604}).raise_for_status()
        for i in range(start, len(rows), chunk):
            part = rows[i : i + chunk]
            body = {"timestamps": [t for t, _ in part], "values": [v for _, v in part]}
            resp = client.post(f"/v1/series/{SERIES}/points", json=body)
            resp.raise_for_status()
            scores = resp.json()["scores"]
            scored = [s["anomaly_score"] for s in scores if s["anomaly_score"] is not None]
            top = max(scored, default=None)
            mark = "[red]ANOMALY[/red]" if top is not None and top > 1 else ""
            console.print(f"point {i + len(part):5d}/{len(rows)}  max anomaly_score {top}  {mark}")
            time.sleep(chunk / rate)


def run_demo(host: str, port: int, data_dir: Path, *, rate: float = 50.0, chunk: int = 10) -> None:
    """Serve, print where to look, replay the bundled NAB series, then keep serving."""
    console = Console()
    server = _start_server(host, port, data_dir)
    base = f"http://{host}:{port}"
    console.print(
        f"anomalyd is up: API docs {base}/docs, metrics {base}/metrics, data in {data_dir}"
    )
    console.print(f"replaying NAB ec2_cpu_utilization_825cc2 (MIT) into series {SERIES!r}")
    replay(base, console, rate=rate, chunk=chunk)
    console.print(f"replay done; scores at {base}/v1/series/{SERIES}/scores. Ctrl-C to stop.")
    try:
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
