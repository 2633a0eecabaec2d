"""How fast the dashboard's series view opens a long series, in real headless Chromium.

Starts the service (``python -m anomalyd.service.server``) on a temporary data dir, writes one
series of ``--points`` points (i.i.d. noise with a few spikes, ``mad`` so scoring is quick) and
waits until every point is scored. Then, in Debian's ``chromium`` driven by Playwright:

* **dashboard**: open ``/dashboard/#/series?id=...`` in a fresh page and wait until both charts
  are drawn (the server reads the range and thins it with MinMaxLTTB to about two points per
  pixel of the 1200-pixel-wide charts);
* **raw points** (the named baseline): in the same page, read every point through
  ``GET /v1/series/{id}/scores`` and draw the same two uPlot charts from all of them.

Each is timed ``--repeats`` times (wall clock, page open to charts drawn); the median and the
ratio raw / dashboard are printed; ``target_under_2s`` says whether the series view opened
in under 2 s.

    .venv/bin/python benchmarks/dashboard_open.py --points 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration._server import Server  # noqa: E402

SERIES = "long"
CHUNK = 100_000
RAW_DRAW = """async ([series, limit]) => {
  const t0 = performance.now();
  const r = await fetch(`/v1/series/${series}/scores?limit=${limit}`);
  if (!r.ok) throw new Error(`${r.status}: ${await r.text()}`);
  const points = (await r.json()).points;
  const ts = points.map((p) => p.timestamp);
  const make = (ys, label) => new uPlot({width: 1200, height: 220, series: [{}, {label}],
    scales: {x: {time: true}}}, [ts, ys], document.body);
  make(points.map((p) => p.value), "value");
  make(points.map((p) => p.anomaly_score), "anomaly_score");
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return {seconds: (performance.now() - t0) / 1000, points: points.length};
}"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args(argv)


def load(url: str, n: int) -> None:
    """One series of ``n`` points at 15 s steps, scored by ``mad``; returns when all are."""
    body = {"detector": "mad", "params": {"window": 16}, "train_points": 2000, "refit_every": 0}
    httpx.put(f"{url}/v1/series/{SERIES}", json=body).raise_for_status()
    values = np.random.default_rng(0).normal(50.0, 5.0, n)
    values[:: max(n // 7, 1)] += 60.0
    ts = 1.6e9 + 15.0 * np.arange(n)
    with httpx.Client(timeout=300) as client:
        for lo in range(0, n, CHUNK):
            part = {
                "timestamps": ts[lo : lo + CHUNK].tolist(),
                "values": values[lo : lo + CHUNK].tolist(),
            }
            client.post(f"{url}/v1/series/{SERIES}/points", json=part).raise_for_status()
    while httpx.get(f"{url}/v1/series/{SERIES}").json()["scored"] < n:
        time.sleep(0.2)


def open_dashboard(browser: Any, url: str) -> float:
    """Seconds from opening the series view to both charts drawn."""
    page = browser.new_page(viewport={"width": 1240, "height": 800})
    t0 = time.perf_counter()
    page.goto(f"{url}/dashboard/#/series?id={SERIES}")
    page.wait_for_selector("body[data-ready=true] .chart.scores canvas")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(done))")
    seconds = time.perf_counter() - t0
    page.close()
    return seconds


def open_raw(browser: Any, url: str, n: int) -> tuple[float, int]:
    """Seconds to read every point through /scores and draw the same two charts."""
    page = browser.new_page(viewport={"width": 1240, "height": 800})
    page.goto(f"{url}/healthz")  # same origin, nothing drawn
    page.add_script_tag(url=f"{url}/dashboard/vendor/uplot/uPlot.iife.min.js")
    t0 = time.perf_counter()
    out = page.evaluate(RAW_DRAW, [SERIES, n])
    seconds = time.perf_counter() - t0
    page.close()
    return seconds, int(out["points"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found: install the Debian package `chromium`")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"ANOMALYD_MAX_SCORES_PER_QUERY": str(args.points)}
        server = Server(Path(tmp) / "data", env=env).start()
        try:
            t0 = time.perf_counter()
            load(server.url, args.points)
            print(f"{args.points:,} points written and scored in {time.perf_counter() - t0:.0f} s")
            figures = measure(chromium, server.url, args)
        finally:
            server.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def measure(chromium: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        open_dashboard(browser, url)  # warm-up: first page load, caches
        dash = [open_dashboard(browser, url) for _ in range(args.repeats)]
        raw = [open_raw(browser, url, args.points) for _ in range(args.repeats)]
        browser.close()
    raw_s = statistics.median(r[0] for r in raw)
    dash_s = statistics.median(dash)
    return {
        "points": args.points,
        "dashboard_open_s": dash,
        "raw_points_open_s": [r[0] for r in raw],
        "median_dashboard_s": round(dash_s, 3),
        "median_raw_s": round(raw_s, 3),
        "raw_over_dashboard": round(raw_s / dash_s, 1),
        "target_under_2s": dash_s < 2.0,
    }


if __name__ == "__main__":
    sys.exit(main())
