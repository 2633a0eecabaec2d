"""Load benchmark of the running service: sustained points/s and ingest-to-score latency.

Starts ``python -m anomalyd.service.server`` in a child process on a temporary data dir (or uses
``--url``); this process is the separate load generator. It warms every series up (its
``train_points`` are sent and the models fitted, untimed), then sends ``--steps`` further points
per series, pre-encoded, either as fast as ``--concurrency`` clients can (``--rate 0``: the
sustained throughput) or at a fixed ``--rate`` of points/s (the latency at that load).

Load shapes:
* ``--mode remote-write`` (the default): Prometheus remote-write requests of ``--per-request``
  samples (Prometheus' ``max_samples_per_send`` default is 2000), ``--per-series`` consecutive
  samples of each series per request (a 1 s scrape and a 10 s send deadline give 10).
* ``--mode rest``: ``POST /v1/series/{id}/points`` with ``--per-series`` points per request; the
  request returns after the points are scored.

Throughput = timed points / (first request sent .. last point scored). Latency: the server's
``anomalyd_ingest_to_score_seconds`` histogram (points stored -> their scores stored, one
observation per series per write; percentiles interpolated within buckets, as PromQL's
``histogram_quantile``), and the client's request latency. The named baseline is the same
scoring work in this process: 200 fitted series fed through ``StreamScorer.update_many`` in the
same chunks, without HTTP, storage or the scheduler.

    .venv/bin/python benchmarks/serve_load.py --series 1000 --steps 100 --detector mad
    .venv/bin/python benchmarks/serve_load.py --series 1000 --steps 50 --rate 5000
    .venv/bin/python benchmarks/serve_load.py --detector ensemble --concurrency 4 \
        --param members=ae:32,ae:64,lof:64:max_train_windows=3000,subpca:64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomalyd.detectors import registry  # noqa: E402
from anomalyd.detectors.streaming import StreamScorer  # noqa: E402
from anomalyd.service import remote_write  # noqa: E402
from anomalyd.service.cli import parse_params  # noqa: E402
from tests.integration._server import Server  # noqa: E402

HISTOGRAM = "anomalyd_ingest_to_score_seconds"
Request = tuple[str, bytes, dict[str, str], int, int]  # path, body, headers, points, shard
#: settings this benchmark gives the service from its flags (the baseline uses the same)
OWN_SETTINGS = (
    "ANOMALYD_DEFAULT_TRAIN_POINTS",
    "ANOMALYD_DEFAULT_DETECTOR",
    "ANOMALYD_DEFAULT_PARAMS",
    "ANOMALYD_SQLITE_SYNCHRONOUS",
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", help="use a running service instead of starting one")
    p.add_argument("--series", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100, help="timed points per series")
    p.add_argument("--mode", choices=["remote-write", "rest"], default="remote-write")
    p.add_argument("--per-request", type=int, default=2000, help="remote-write samples/request")
    p.add_argument("--per-series", type=int, default=10, help="points of a series per request")
    p.add_argument("--rate", type=float, default=0.0, help="points/s; 0 = as fast as possible")
    p.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="concurrent senders (Prometheus' remote-write shards; it runs about rate x "
        "request latency / max_samples_per_send of them, up to max_shards = 50)",
    )
    p.add_argument("--train-points", type=int, default=256)
    p.add_argument("--window", type=int, default=32, help="for detectors with a `window`")
    p.add_argument("--detector", default="mad", help="registry name (`ensemble` is the default)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of the detector, for the service and the baseline alike (repeat it); "
        "e.g. --detector ensemble --param members=lof:32,subpca:64",
    )
    p.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args = p.parse_args()
    set_in_env = [k for k in OWN_SETTINGS if k in os.environ]
    if set_in_env:
        p.error(f"{', '.join(set_in_env)} is set; give the detector with --detector and --param")
    if args.url and args.param:
        p.error("--param sets the started service's detector; with --url the service has its own")
    try:
        args.params = detector_params(args)
    except typer.BadParameter as exc:
        p.error(str(exc))
    return args


def make_data(n_series: int, n_points: int) -> np.ndarray:
    """[series, points]: sines of different periods plus noise."""
    rng = np.random.default_rng(0)
    t = np.arange(n_points)
    periods = 20 + np.arange(n_series) % 50
    return np.sin(2 * np.pi * t[None, :] / periods[:, None]) + 0.1 * rng.normal(
        size=(n_series, n_points)
    )


def build_requests(args: argparse.Namespace, data: np.ndarray, lo: int, hi: int) -> list[Request]:
    """Requests carrying points ``lo .. hi - 1`` of every series, in time order."""
    out: list[Request] = []
    per = args.per_series
    for start in range(lo, hi, per):
        stop = min(start + per, hi)
        if args.mode == "rest":
            for s in range(len(data)):
                body = {"timestamps": list(range(start, stop)), "values": data[s, start:stop]}
                content = json.dumps({**body, "values": body["values"].tolist()}).encode()
                headers = {"content-type": "application/json"}
                shard = s % args.concurrency
                out.append((f"/v1/series/bench-{s}/points", content, headers, stop - start, shard))
            continue
        group = max(1, args.per_request // per)  # the same groups (and shards) every time
        for first in range(0, len(data), group):
            rows = range(first, min(first + group, len(data)))
            batch = [
                (
                    {"__name__": "bench", "series": f"bench-{s}"},
                    [(t * 1000, float(data[s, t])) for t in range(start, stop)],
                )
                for s in rows
            ]
            headers = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
            shard = (first // group) % args.concurrency  # a series always goes to one shard
            body = remote_write.encode(batch)
            out.append(("/api/v1/write", body, headers, len(rows) * (stop - start), shard))
    return out


def send_all(
    client: httpx.Client, requests: list[Request], args: argparse.Namespace
) -> list[float]:
    """Send every request; request latencies in seconds.

    Like Prometheus' remote-write shards, each of ``--concurrency`` clients owns a fixed set of
    series and sends its requests in order, so the points of a series arrive in time order.
    """
    offsets = np.cumsum([0] + [r[3] for r in requests])
    shards: list[list[tuple[float, Request]]] = [[] for _ in range(args.concurrency)]
    for i, req in enumerate(requests):
        shards[req[4]].append((offsets[i] / args.rate if args.rate else 0.0, req))
    lock = threading.Lock()
    latencies: list[float] = []
    t0 = time.perf_counter()

    def worker(todo: list[tuple[float, Request]]) -> None:
        for due, (path, content, headers, _, _) in todo:
            time.sleep(max(0.0, t0 + due - time.perf_counter()))
            while True:
                start = time.perf_counter()
                r = client.post(path, content=content, headers=headers)
                if r.status_code != 429:
                    break
                time.sleep(float(r.headers.get("retry-after", "1")))
            if r.is_error:
                raise RuntimeError(f"{path}: {r.status_code} {r.text}")
            with lock:
                latencies.append(time.perf_counter() - start)

    with ThreadPoolExecutor(args.concurrency) as pool:
        for f in [pool.submit(worker, todo) for todo in shards]:
            f.result()
    return latencies


def wait_until(client: httpx.Client, done: object, timeout: float = 3600) -> None:
    """Poll ``GET /v1/stats`` until ``done(stats)`` holds."""
    deadline = time.perf_counter() + timeout
    while not done(client.get("/v1/stats").json()):  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("the service did not finish scoring in time")
        time.sleep(0.02)


def histogram(client: httpx.Client) -> dict[float, float]:
    """Cumulative bucket counts of the ingest-to-score histogram, by upper bound."""
    out = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{HISTOGRAM}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """``histogram_quantile`` over the observations between two snapshots (seconds)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    rank, prev_bound, prev_count = q * counts[-1], 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return float("nan")


def detector_params(args: argparse.Namespace) -> dict[str, Any]:
    """``{"window": --window}`` for detectors that take one, then the ``--param`` pairs."""
    names = {p.name for p in registry.get_class(args.detector).params}
    window = {"window": args.window} if "window" in names else {}
    return {**window, **parse_params(args.param)}


def baseline(data: np.ndarray, args: argparse.Namespace, n: int = 200) -> float:
    """Points/s of the service's scoring work alone, in this process: ``n`` series fitted
    (untimed), then their timed points fed to ``StreamScorer.update_many`` in the same chunks
    (no HTTP, no storage, no scheduler)."""
    train, rows = args.train_points, data[:n]
    dets = [registry.create(args.detector, args.params).fit(x[:train]) for x in rows]
    scorers = [StreamScorer(d, context=x[:train, None]) for d, x in zip(dets, rows, strict=True)]
    spare = [StreamScorer(d, context=x[:train, None]) for d, x in zip(dets, rows, strict=True)]
    StreamScorer.update_many(spare, [x[train : train + 1, None] for x in rows])  # warm, untimed
    t0 = time.perf_counter()
    for lo in range(train, data.shape[1], args.per_series):
        StreamScorer.update_many(scorers, [x[lo : lo + args.per_series, None] for x in rows])
    return len(rows) * (data.shape[1] - train) / (time.perf_counter() - t0)


def run(url: str, args: argparse.Namespace, data: np.ndarray) -> dict[str, float]:
    n_series, train = len(data), args.train_points
    warm = build_requests(args, data, 0, train)
    timed = build_requests(args, data, train, train + args.steps)
    with httpx.Client(base_url=url, timeout=300) as client:
        send_all(client, warm, argparse.Namespace(**{**vars(args), "rate": 0.0}))
        wait_until(client, lambda s: s["counts"]["ready"] + s["counts"]["failed"] >= n_series)
        before = histogram(client)
        total = n_series * (train + args.steps)
        t0 = time.perf_counter()
        lat = send_all(client, timed, args)
        sent = time.perf_counter() - t0
        wait_until(client, lambda s: s["points_scored"] >= total)
        elapsed = time.perf_counter() - t0
        after = histogram(client)
    ms = np.array(lat) * 1000
    points = n_series * args.steps
    return {
        "points": points,
        "requests": len(lat),
        "send_seconds": sent,
        "seconds_until_scored": elapsed,
        "points_per_s": points / elapsed,
        "ingest_to_score_p50_ms": 1000 * quantile(before, after, 0.5),
        "ingest_to_score_p99_ms": 1000 * quantile(before, after, 0.99),
        "request_p50_ms": float(np.percentile(ms, 50)),
        "request_p99_ms": float(np.percentile(ms, 99)),
    }


def main() -> None:
    args = parse_args()
    data = make_data(args.series, args.train_points + args.steps)
    server, url = None, args.url
    if url is None:
        env = {
            **{k: v for k, v in os.environ.items() if k.startswith("ANOMALYD_")},
            "ANOMALYD_DEFAULT_TRAIN_POINTS": str(args.train_points),
            "ANOMALYD_DEFAULT_DETECTOR": args.detector,
            "ANOMALYD_DEFAULT_PARAMS": json.dumps(args.params),
            "ANOMALYD_SQLITE_SYNCHRONOUS": args.synchronous,
        }
        server = Server(Path(tempfile.mkdtemp(prefix="anomalyd-bench-")) / "data", env).start()
        url = server.url
    try:
        result = run(url, args, data)
    finally:
        if server is not None:
            server.stop()
    base = baseline(data, args)
    result["baseline_points_per_s"] = base
    result["ratio_vs_in_process"] = result["points_per_s"] / base
    rate = f"{args.rate:.0f} points/s offered" if args.rate else "max rate"
    shape = f"{args.per_request} samples/request" if args.mode == "remote-write" else "one series"
    print(
        f"anomalyd serve load ({args.mode}, {args.detector}, {args.series} series, "
        f"{args.steps} timed points each, {shape}, {args.per_series} points/series/request, "
        f"{rate}, {args.concurrency} clients, synchronous={args.synchronous}, "
        f"params {json.dumps(args.params)})"
    )
    for key, value in result.items():
        text = f"{value:12.3f}" if isinstance(value, float) else f"{value:12d}"
        print(f"  {key:26s} {text}")


if __name__ == "__main__":
    main()
