"""APRE training speed: many per-series models stacked (``fit_many``) vs a loop of ``fit``.

Run with one thread for a fair single-core comparison::

    OMP_NUM_THREADS=1 python benchmarks/apre_training.py [--series 1 16 64] [--device cpu]

For each number of series S, fits S APRE models (``--window``, ``--epochs``, ``--train-points``
per series) once as one stacked model (weights [S, in, out], ``torch.baddbmm``) and once one
by one, checks that both give the same weights, and prints both wall times and the ratio
loop / stacked (> 1 means stacking is faster), plus the CPU-time ratio (steadier on a shared
machine).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from anomalyd.detectors.apre import APRE


def make_series(n_series: int, n_points: int) -> list[np.ndarray]:
    """Seasonal series with noise, a different phase and period per series."""
    rng = np.random.default_rng(0)
    t = np.arange(n_points)
    out = []
    for _ in range(n_series):
        period = rng.uniform(20, 60)
        out.append(
            np.sin(2 * np.pi * t / period + rng.uniform(0, 6)) + 0.1 * rng.normal(size=n_points)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-points", type=int, default=2000)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    params: dict[str, Any] = {"window": args.window, "epochs": args.epochs, "device": args.device}
    print(
        f"window {args.window}, {args.train_points} training points per series, "
        f"{args.epochs} epochs, device {args.device}, {args.threads} thread(s)"
    )
    print(
        f"{'series':>6} {'loop s':>9} {'stacked s':>10} {'loop/stacked':>13} {'(CPU-s ratio)':>14}"
    )
    APRE(**params).fit(make_series(1, args.train_points)[0])  # warm-up outside the timings
    for n in args.series:
        xs = make_series(n, args.train_points)
        looped, t_loop, c_loop = timed(fit_loop, xs, params)
        stacked, t_stack, c_stack = timed(fit_stacked, xs, params)
        pairs = zip(looped, stacked, strict=True)
        worst = max(float(np.abs(a.weights_ - b.weights_).max()) for a, b in pairs)
        assert worst < 1e-8, f"stacked and looped weights differ by {worst}"
        ratio, cpu_ratio = t_loop / t_stack, c_loop / c_stack
        print(f"{n:>6} {t_loop:>9.2f} {t_stack:>10.2f} {ratio:>13.1f} {cpu_ratio:>14.1f}")


def fit_loop(xs: list[np.ndarray], params: dict[str, Any]) -> list[APRE]:
    """One ``fit`` per series."""
    return [APRE(**params).fit(x) for x in xs]


def fit_stacked(xs: list[np.ndarray], params: dict[str, Any]) -> list[APRE]:
    """One ``fit_many`` for all series."""
    return APRE.fit_many([(APRE(**params), x) for x in xs])


Fit = Callable[[list[np.ndarray], dict[str, Any]], list[APRE]]


def timed(fn: Fit, xs: list[np.ndarray], params: dict[str, Any]) -> tuple[list[APRE], float, float]:
    """``fn(xs, params)``, its wall seconds and its CPU seconds (steadier on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(xs, params)
    return out, time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
