"""Load benchmark of the running service: REST or remote-write writes from concurrent clients.

Starts ``python -m service.server`` on a temporary data dir (or uses ``--url``), feeds
``--series`` series of ``--points`` points in chunks of ``--chunk`` from ``--concurrency``
client threads, and prints throughput, request latency percentiles and the ratio against the
baseline: scoring the same arrays in-process with ``detector.score`` (no HTTP, no storage).

    .venv/bin/python benchmarks/serve_load.py --series 20 --points 1000 --chunk 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors import registry  # noqa: E402
from service import remote_write  # noqa: E402
from tests.integration._server import Server  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", help="use a running service instead of starting one")
    p.add_argument("--series", type=int, default=20)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--train-points", type=int, default=256)
    p.add_argument("--window", type=int, default=64, help="for detectors with a `window`")
    p.add_argument("--detector", default="mad", help="registry name (`ensemble` is the default)")
    p.add_argument("--remote-write", action="store_true", help="send remote-write, not REST")
    p.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    return p.parse_args()


def make_data(n_series: int, n_points: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(n_points)
    return {
        f"bench-{i}": np.sin(2 * np.pi * t / (20 + i)) + 0.1 * rng.normal(size=n_points)
        for i in range(n_series)
    }


def feed_rest(client: httpx.Client, sid: str, x: np.ndarray, chunk: int) -> list[float]:
    latencies = []
    for lo in range(0, len(x), chunk):
        body = {
            "timestamps": list(range(lo, lo + len(x[lo : lo + chunk]))),
            "values": x[lo : lo + chunk].tolist(),
        }
        t0 = time.perf_counter()
        r = client.post(f"/v1/series/{sid}/points", json=body)
        latencies.append(time.perf_counter() - t0)
        r.raise_for_status()
    return latencies


def feed_remote_write(client: httpx.Client, sid: str, x: np.ndarray, chunk: int) -> list[float]:
    latencies = []
    labels = {"__name__": "bench", "series": sid}
    for lo in range(0, len(x), chunk):
        samples = [(i * 1000, float(x[i])) for i in range(lo, min(lo + chunk, len(x)))]
        t0 = time.perf_counter()
        r = client.post("/api/v1/write", content=remote_write.encode([(labels, samples)]))
        latencies.append(time.perf_counter() - t0)
        r.raise_for_status()
    return latencies


def wait_scored(client: httpx.Client, expected: int) -> None:
    while True:
        body = client.get("/v1/series").json()
        if sum(s["scored"] for s in body["series"]) >= expected:
            return
        time.sleep(0.05)


def detector_params(args: argparse.Namespace) -> dict[str, int]:
    """``{"window": --window}`` for detectors that take one, else the defaults."""
    names = {p.name for p in registry.get_class(args.detector).params}
    return {"window": args.window} if "window" in names else {}


def baseline(data: dict[str, np.ndarray], train: int, args: argparse.Namespace) -> float:
    """Seconds to fit + score every series in-process (the ceiling for the service)."""
    t0 = time.perf_counter()
    for x in data.values():
        det = registry.create(args.detector, detector_params(args)).fit(x[:train])
        det.score(x)
    return time.perf_counter() - t0


def run(url: str, args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, float]:
    feed = feed_remote_write if args.remote_write else feed_rest
    limits = httpx.Limits(max_connections=args.concurrency)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            per_series = pool.map(lambda kv: feed(client, kv[0], kv[1], args.chunk), data.items())
            lat = [seconds for series_lat in per_series for seconds in series_lat]
        wait_scored(client, len(data) * args.points)
        elapsed = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    total = len(data) * args.points
    return {
        "points": total,
        "seconds": elapsed,
        "points_per_s": total / elapsed,
        "requests": len(lat),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def main() -> None:
    args = parse_args()
    data = make_data(args.series, args.points)
    server = None
    url = args.url
    if url is None:
        env = {
            "ANOMALYD_DEFAULT_TRAIN_POINTS": str(args.train_points),
            "ANOMALYD_DEFAULT_DETECTOR": args.detector,
            "ANOMALYD_DEFAULT_PARAMS": json.dumps(detector_params(args)),
            "ANOMALYD_SQLITE_SYNCHRONOUS": args.synchronous,
            **{k: v for k, v in os.environ.items() if k.startswith("ANOMALYD_")},
        }
        tmp = Path(tempfile.mkdtemp(prefix="anomalyd-bench-"))
        server = Server(tmp / "data", env).start()
        url = server.url
    try:
        warm = registry.create(args.detector, detector_params(args))  # JIT warm-up
        warm.fit(np.sin(np.arange(args.train_points) / 5.0))
        result = run(url, args, data)
    finally:
        if server is not None:
            server.stop()
    base = baseline(data, args.train_points, args)
    result["baseline_points_per_s"] = result["points"] / base
    result["ratio_vs_in_process"] = result["points_per_s"] / result["baseline_points_per_s"]
    mode = "remote-write" if args.remote_write else "REST"
    print(
        f"anomalyd serve load ({mode}, {args.detector}, {args.series} series x {args.points} "
        "points, "
        f"chunk {args.chunk}, {args.concurrency} clients, synchronous={args.synchronous})"
    )
    for key, value in result.items():
        print(
            f"  {key:24s} {value:12.3f}" if isinstance(value, float) else f"  {key:24s} {value:12d}"
        )


if __name__ == "__main__":
    main()
