"""Soak test of the running service: a fixed write rate for a fixed time; latency and memory.

Starts ``python -m anomalyd.service.server`` on a temporary data dir, paces REST writes of
``--rate`` points/s over ``--series`` series (chunks of ``--chunk`` points, one client thread per
series group) for ``--minutes``, samples the server's resident memory (``/proc/PID/status``)
every ``--sample-s`` seconds, and prints request latency percentiles, the achieved rate, and
memory at the start / end of the steady state (first sample after warm-up vs the last) with
their ratio (the baseline: the server's own memory once every series is fitted).

    .venv/bin/python benchmarks/serve_soak.py --rate 5000 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration._server import Server  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=5000.0, help="points per second, all series")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--series", type=int, default=100)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--detector", default="mad")
    p.add_argument("--train-points", type=int, default=256)
    p.add_argument("--sample-s", type=float, default=10.0)
    return p.parse_args()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def writer(
    url: str, sids: list[str], args: argparse.Namespace, stop: float, out: list[float]
) -> None:
    """Round-robin over ``sids``, pacing this thread's share of the rate."""
    interval = args.chunk * args.threads / args.rate
    rng = np.random.default_rng(int(sids[0].rsplit("-", 1)[-1]))
    t_next, step = time.perf_counter(), dict.fromkeys(sids, 0)
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.perf_counter() < stop:
            for sid in sids:
                lo = step[sid]
                t = np.arange(lo, lo + args.chunk)
                values = np.sin(2 * np.pi * t / 50) + 0.1 * rng.normal(size=args.chunk)
                body = {"timestamps": t.tolist(), "values": values.tolist()}
                t0 = time.perf_counter()
                client.post(f"/v1/series/{sid}/points", json=body).raise_for_status()
                out.append(time.perf_counter() - t0)
                step[sid] = lo + args.chunk
                t_next += interval
                time.sleep(max(0.0, t_next - time.perf_counter()))
                if time.perf_counter() >= stop:
                    return


def main() -> None:
    args = parse_args()
    env = {
        "ANOMALYD_DEFAULT_DETECTOR": args.detector,
        "ANOMALYD_DEFAULT_TRAIN_POINTS": str(args.train_points),
    }
    server = Server(Path(tempfile.mkdtemp(prefix="anomalyd-soak-")) / "data", env).start()
    pid = server.proc.pid if server.proc is not None else 0
    sids = [f"soak-{i}" for i in range(args.series)]
    groups = [sids[i :: args.threads] for i in range(args.threads)]
    lat: list[list[float]] = [[] for _ in groups]
    start = time.perf_counter()
    stop = start + args.minutes * 60
    threads = [
        threading.Thread(target=writer, args=(server.url, g, args, stop, out))
        for g, out in zip(groups, lat, strict=True)
    ]
    for th in threads:
        th.start()
    samples = []
    try:
        while any(th.is_alive() for th in threads):
            samples.append((time.perf_counter() - start, rss_mib(pid)))
            time.sleep(args.sample_s)
        for th in threads:
            th.join()
    finally:
        server.stop()
    report(args, [x for per in lat for x in per], samples, time.perf_counter() - start)


def report(
    args: argparse.Namespace, lat: list[float], samples: list[tuple[float, float]], secs: float
) -> None:
    ms = np.array(lat) * 1000
    steady = [m for t, m in samples if t >= 60] or [m for _, m in samples]
    result = {
        "target_points_per_s": args.rate,
        "achieved_points_per_s": len(lat) * args.chunk / secs,
        "requests": len(lat),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "rss_mib_after_1_min": steady[0],
        "rss_mib_end": steady[-1],
        "rss_end_over_start": steady[-1] / steady[0],
    }
    print(
        f"anomalyd soak ({args.detector}, {args.series} series, chunk {args.chunk}, "
        f"{args.minutes:g} min at {args.rate:g} points/s)"
    )
    print(json.dumps(result, indent=1))
    print("rss samples (s, MiB):", [(round(t), round(m, 1)) for t, m in samples])


if __name__ == "__main__":
    main()
