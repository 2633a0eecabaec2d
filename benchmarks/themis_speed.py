"""THEMIS encoder speed: windows/s by window and batch size, threads, batching across series.

Run from the repository root::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/themis_speed.py [--model PATH] [--device cpu]

Prints encoder windows/s at windows 64/128/512 and batch sizes 32..256 (best of
``--repeats``), ``torch.set_num_threads(1)`` vs 2, and 16 series scored one by one vs in one
``Themis.score_many`` call (ratio > 1: batching is faster), for a backfill (whole series) and
a streaming update (one new point per series). Without ``--model`` it tries the Hugging Face
cache for amazon/chronos-bolt-tiny (no network); when that is missing it builds a random
checkpoint with the published chronos-bolt-tiny sizes (d_model 256, 4 layers): every figure
is then labelled "random tiny weights: speed only" (the architecture, not the weights, sets
the speed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from _timing import best_of

from anomalyd.detectors import StreamScorer, _chronos
from anomalyd.detectors.themis import Themis


def pick_model(model: str | None, scratch: Path) -> tuple[str, str]:
    """(model to load, label): the given path, the cached real model, or random tiny weights."""
    if model:
        return model, f"model {model}"
    os.environ["HF_HUB_OFFLINE"] = "1"  # the cache only: never wait on an unreachable Hub
    try:
        _chronos.encoder(_chronos.DEFAULT_MODEL, "cpu")
        return _chronos.DEFAULT_MODEL, f"{_chronos.DEFAULT_MODEL} (pretrained)"
    except _chronos.ModelUnavailableError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root
        from tests.unit.detectors.chronos_tiny import build_tiny_chronos_bolt

        path = build_tiny_chronos_bolt(scratch / "tiny", d_model=256, num_layers=4)
        return str(path), "random tiny weights: speed only (chronos-bolt-tiny sizes)"


def encoder_table(
    model: str, device: str, windows: list[int], batches: list[int], reps: int
) -> None:
    """Print windows/s of the encoder for each window length and batch size."""
    enc = _chronos.encoder(model, device)
    rng = np.random.default_rng(0)
    print("windows/s (one padded chunk of 1 window: ms)")
    print(f"{'window':>6} " + " ".join(f"{'batch ' + str(b):>16}" for b in batches))
    for w in windows:
        row = []
        for b in batches:
            x = rng.normal(size=(2 * b, w))
            rate = 2 * b / best_of(partial(enc.embed, x, b), reps, warmup=True)
            one = best_of(partial(enc.embed, x[:1], b), reps, warmup=True)
            row.append(f"{rate:.0f} ({one * 1e3:.0f} ms)")
        print(f"{w:>6} " + " ".join(f"{r:>16}" for r in row))


def best_of_pair(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Fastest wall times of two alternating functions: shared, busy cores hit both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in zip((first, second), times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return min(times[0]), min(times[1])


def threads_line(model: str, device: str, window: int, batch: int, reps: int) -> None:
    """Windows/s with torch.set_num_threads(1) and (2), alternated, and their ratio."""
    enc = _chronos.encoder(model, device)
    x = np.random.default_rng(1).normal(size=(2 * batch, window))
    old = torch.get_num_threads()

    def run(n: int) -> None:
        torch.set_num_threads(n)
        enc.embed(x, batch)

    one, two = best_of_pair(partial(run, 1), partial(run, 2), reps + 1)
    torch.set_num_threads(old)
    print(
        f"window {window}, batch {batch}: 1 thread {2 * batch / one:.0f} windows/s, "
        f"2 threads {2 * batch / two:.0f} windows/s, ratio 2/1 = {one / two:.2f}"
    )


def make_series(n_series: int, n_points: int) -> list[np.ndarray]:
    """Seasonal series with noise, a different phase and period per series."""
    rng = np.random.default_rng(0)
    t = np.arange(n_points)
    return [
        np.sin(2 * np.pi * t / rng.uniform(20, 60) + rng.uniform(0, 6))
        + 0.1 * rng.normal(size=n_points)
        for _ in range(n_series)
    ]


def across_series(model: str, device: str, window: int, batch: int, reps: int) -> None:
    """16 series: one by one vs one ``score_many`` call, backfill and streaming update."""
    xs = make_series(16, 600)
    dets = Themis.fit_many(
        [(Themis(window=window, batch_size=batch, model=model, device=device), x[:500]) for x in xs]
    )
    pairs = list(zip(dets, xs, strict=True))
    one, many = best_of_pair(
        lambda: [d.score(x) for d, x in pairs], lambda: Themis.score_many(pairs), 1
    )
    print(
        f"backfill 16 x 600 points: one by one {one:.3f} s, batched {many:.3f} s, "
        f"ratio {one / many:.1f}x"
    )
    scorers = [StreamScorer(d, context=x) for d, x in pairs]
    new = [np.array([x[-1]]) for x in xs]
    one, many = best_of_pair(
        lambda: [s.update(n) for s, n in zip(scorers, new, strict=True)],
        lambda: StreamScorer.update_many(scorers, new),
        reps,
    )
    print(
        f"streaming update, 1 new point x 16 series: one by one {one * 1e3:.1f} ms, "
        f"batched {many * 1e3:.1f} ms, ratio {one / many:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Chronos-Bolt directory or Hub id")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--windows", type=int, nargs="+", default=[64, 128, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the tables")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        model, label = pick_model(args.model, Path(scratch))
        print(f"THEMIS encoder speed [{label}], device {args.device}, {args.threads} thread(s)")
        encoder_table(model, args.device, args.windows, args.batches, args.repeats)
        threads_line(model, args.device, 128, 64, args.repeats)
        across_series(model, args.device, 128, 64, args.repeats)


if __name__ == "__main__":
    main()
