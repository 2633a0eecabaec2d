"""Streaming fast paths of the window detectors, each against a named baseline in the same run.

1. ``paths``: a window detector's compiled streaming pass (``_score_stream``, one compiled call
   that builds the window features itself) vs its array path (``_score_array``: numpy windows,
   then blocked GEMM kNN for LOF / BLAS for Sub-PCA), on one series with ``--windows`` new
   windows, for 256 and 3,000 training windows. Ratio = array time / streaming time (> 1: the
   streaming pass is faster). ``STREAM_WINDOWS`` decides which path ``score`` takes.
2. ``threads``: the default ensemble, ``StreamScorer.update_many`` of ``--series`` fitted series
   x 10 new points, in one part (baseline) vs two parts on two threads (``parts=2``, what the
   service's ``ANOMALYD_SCORE_THREADS=2`` does), back to back and with a 0.4 s idle pause before
   each batch (a 2,000-sample remote-write request every 0.4 s is 5,000 points/s). Ratio = one
   part / two parts.
3. ``fused``: the default ensemble's fused streaming pass (``_kernels.stream_many``: every
   member of every series and their combination in one compiled call) vs scoring it member
   class by member class (one compiled call per class, then ``_combine`` per series in Python;
   the path before the fused pass), on ``--series`` series x 10 new points, one thread; the
   scores are checked bit for bit. Ratio = member by member / fused.

    .venv/bin/python benchmarks/stream_paths.py
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomalyd.detectors import registry  # noqa: E402
from anomalyd.detectors.ensemble import Ensemble, _score_by_member, _score_fused  # noqa: E402
from anomalyd.detectors.streaming import StreamScorer  # noqa: E402
from benchmarks._timing import best_of  # noqa: E402

PATHS = [
    ("lof", {"window": 64, "max_train_windows": 3000}),
    ("lof", {"window": 32, "normalize": "window", "max_train_windows": 3000}),
    ("subpca", {"window": 64}),
]


def series(n_series: int, n_points: int, seed: int = 0) -> np.ndarray:
    """[series, points]: sines of different periods plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    periods = rng.uniform(20, 80, size=(n_series, 1))
    return np.sin(2 * np.pi * t / periods) + 0.1 * rng.normal(size=(n_series, n_points))


def bench_paths(windows: list[int], trains: list[int], repeats: int) -> None:
    head = f"{'detector':44s} {'train':>6s} {'windows':>8s} {'array ms':>9s} {'stream ms':>10s}"
    print(head, "ratio")
    for train in trains:
        x = series(2, train + max(windows) + 64)
        for name, params in PATHS:
            det = registry.create(name, params).fit(x[0, :train, None])
            for n in windows:
                q = x[1, : det.window - 1 + n, None]
                array = best_of(lambda d=det, q=q: d._score_array(q), repeats, warmup=True)
                stream = best_of(lambda d=det, q=q: d._score_stream(q), repeats, warmup=True)
                label = f"{name} {params}"
                print(
                    f"{label:44s} {train:6d} {n:8d} {1e3 * array:9.2f} {1e3 * stream:10.2f} "
                    f"{array / stream:.2f}x"
                )


def bench_threads(n_series: int, batches: int, pause: float) -> None:
    x = series(n_series, 256 + 10 * (batches + 1))
    dets = Ensemble.fit_many([(registry.create("ensemble", {}), s[:256, None]) for s in x])
    with ThreadPoolExecutor(1) as pool:
        for gap in (0.0, pause):
            ms = {}
            for parts in (1, 2):
                pairs = zip(dets, x, strict=True)
                scorers = [StreamScorer(d, context=s[:256, None]) for d, s in pairs]
                took = []
                for b in range(batches):
                    time.sleep(gap)
                    new = [s[256 + 10 * b : 266 + 10 * b, None] for s in x]
                    t0 = time.perf_counter()
                    StreamScorer.update_many(scorers, new, pool=pool, parts=parts)
                    took.append(time.perf_counter() - t0)
                ms[parts] = 1e3 * float(np.median(took[1:] or took))
            print(
                f"ensemble, {n_series} series x 10 points, pause {gap:.1f} s: one part "
                f"{ms[1]:.1f} ms, two parts {ms[2]:.1f} ms, ratio {ms[1] / ms[2]:.2f}x"
            )


def bench_fused(n_series: int, repeats: int) -> None:
    x = series(n_series, 256 + 10)
    dets = Ensemble.fit_many([(registry.create("ensemble", {}), s[:256, None]) for s in x])
    items = [(d, s[256 - d.context_length :, None]) for d, s in zip(dets, x, strict=True)]
    for got, want in zip(_score_fused(items), _score_by_member(items), strict=True):
        np.testing.assert_array_equal(got, want)
    fused = best_of(lambda: _score_fused(items), repeats, warmup=True)
    by_member = best_of(lambda: _score_by_member(items), repeats, warmup=True)
    print(
        f"ensemble, {n_series} series x 10 points, one thread: member by member "
        f"{1e3 * by_member:.1f} ms, fused {1e3 * fused:.1f} ms (same scores), "
        f"ratio {by_member / fused:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--windows", type=int, nargs="+", default=[16, 256, 1024])
    p.add_argument("--trains", type=int, nargs="+", default=[256, 3000])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--series", type=int, default=200)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--pause", type=float, default=0.4)
    args = p.parse_args(argv)
    bench_paths(args.windows, args.trains, args.repeats)
    bench_threads(args.series, args.batches, args.pause)
    bench_fused(args.series, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
