"""Speed of the evaluation metrics, and speed-up over the slow literal reference.

Prints one line per (metric, n): the best time of a few runs after a warm-up call (so numba's
JIT compilation is excluded) and, where the slow reference is run, its time and the ratio.

    python benchmarks/metrics_speed.py                 # n = 1e4, 1e5, 1e6
    python benchmarks/metrics_speed.py --sizes 1000 10000

Data: a fixed-seed series with a few anomaly events and noisy scores that rise inside them.
To add a metric, append a ``Metric`` to ``METRICS`` (see the VUS-PR hook below).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "metrics"))

from _timing import best_of  # noqa: E402
from pate_reference import slow_pate, slow_pate_f1  # noqa: E402
from vus_reference import vus_slow  # noqa: E402

from anomalyd.metrics.pate import pate, pate_f1  # noqa: E402
from anomalyd.metrics.vus import vus_pr  # noqa: E402

Labels = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]
MetricFn = Callable[[Labels, Scores], float]


@dataclass(frozen=True)
class Metric:
    """A metric to time: the fast function, optionally a slow baseline and the largest n for it."""

    name: str
    fast: MetricFn
    slow: MetricFn | None = None
    slow_max_n: int = 0


def make_data(n: int, seed: int = 0) -> tuple[Labels, Scores]:
    """About one event per 5,000 points (at least 3), 5-150 points long; scores rise inside."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, np.int64)
    n_events = max(3, n // 5000)
    for start in rng.choice(n - 200, size=n_events, replace=False):
        labels[start : start + rng.integers(5, 150)] = 1
    bump = np.convolve(labels, np.ones(9) / 9, mode="same")
    return labels, rng.random(n) + 0.8 * bump * rng.random(n)


def binarise(scores: Scores) -> Scores:
    """A binary prediction from scores: the top 5 % of points."""
    return (scores > np.quantile(scores, 0.95)).astype(np.float64)


def pate_metrics() -> list[Metric]:
    """PATE (default settings and all thresholds) and PATE-F1, with their slow references."""
    return [
        Metric("PATE (default)", pate, slow_pate, slow_max_n=10_000),
        Metric(
            "PATE (big_data=False)",
            lambda y, s: pate(y, s, big_data=False),
            lambda y, s: slow_pate(y.tolist(), s.tolist(), big_data=False),
            slow_max_n=10_000,
        ),
        Metric(
            "PATE-F1",
            lambda y, s: pate_f1(y, binarise(s)),
            lambda y, s: slow_pate_f1(y.tolist(), binarise(s).tolist()),
            slow_max_n=10_000,
        ),
    ]


def vus_metrics() -> list[Metric]:
    """VUS-PR with window 100 (VUS-ROC comes from the same pass), with its slow reference."""
    vus_pr([0, 1, 0, 0], [0.1, 0.9, 0.2, 0.3], window=2)  # JIT warm-up: needs two classes
    return [
        Metric(
            "VUS-PR (window 100)",
            lambda y, s: vus_pr(y, s, window=100),
            lambda y, s: vus_slow(y, s, 100)[0],
            slow_max_n=10_000,
        )
    ]


METRICS: list[Metric] = pate_metrics() + vus_metrics()


def bench(metric: Metric, n: int, repeats: int) -> str:
    """One result line for ``metric`` at size ``n``."""
    labels, scores = make_data(n)
    metric.fast(labels[:1000], scores[:1000])  # JIT warm-up, not timed
    fast = best_of(lambda: metric.fast(labels, scores), repeats)
    line = f"{metric.name:24s} n={n:>9,d}  fast {fast * 1e3:10.2f} ms"
    if metric.slow is not None and n <= metric.slow_max_n:
        slow_fn = metric.slow
        slow = best_of(lambda: slow_fn(labels, scores), 1)
        line += f"  slow {slow:8.2f} s  speed-up x{slow / fast:,.0f}"
    return line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="fast runs per size (best kept)")
    parser.add_argument("--no-slow", action="store_true", help="skip the slow references")
    args = parser.parse_args(argv)
    for metric in METRICS:
        chosen = Metric(metric.name, metric.fast) if args.no_slow else metric
        for n in args.sizes:
            print(bench(chosen, n, args.repeats), flush=True)


if __name__ == "__main__":
    main()
