"""The development benchmark as the quality benchmarks read it."""

from __future__ import annotations

import argparse
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from anomalyd.service.suite import LabelledSeries, load_suite

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmark"


def add_suite_args(parser: argparse.ArgumentParser) -> None:
    """``--suite DIR`` (default ../shared/benchmark) and ``--match TEXT``."""
    parser.add_argument("--suite", type=Path, default=BENCH)
    parser.add_argument("--match", default="", help="only series whose name contains this")


def labelled_univariate(args: argparse.Namespace) -> list[LabelledSeries] | None:
    """The univariate series with a labelled anomaly after ``train_end``; None (and a printed
    reason) when the suite is absent."""
    if not (args.suite / "manifest.json").exists():
        print(f"skipped: no benchmark at {args.suite} (needs ../shared/benchmark)")
        return None
    return [
        s
        for s in load_suite(args.suite, univariate_only=True)
        if args.match in s.name and s.labels[s.train_end :].any()
    ]


def candidate_column(
    per: dict[str, dict[str, Any]], sources: set[str], cand: str, key: str
) -> np.ndarray:
    """The finite values of metric ``key`` of candidate ``cand`` over the series of
    ``sources`` (``per``: series -> {"source", "candidates": {cand: {key: value}}})."""
    vals = np.array(
        [
            v["candidates"][cand][key]
            for v in per.values()
            if "candidates" in v and v["source"] in sources
        ],
        dtype=float,
    )
    return vals[np.isfinite(vals)]


def per_series(
    fn: Callable[[LabelledSeries], dict[str, Any]], suite: list[LabelledSeries], jobs: int
) -> dict[str, dict[str, Any]]:
    """``{name: fn(series)}`` over the suite, in ``jobs`` spawned processes (``fn`` picklable:
    a module-level function or a ``functools.partial`` of one); a series ``fn`` refuses with
    ValueError gets ``{"error": ..., "source": ...}``."""
    if jobs <= 1:
        return {s.name: _safe(fn, s) for s in suite}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        futures = {s.name: pool.submit(_safe, fn, s) for s in suite}
        return {k: f.result() for k, f in futures.items()}


def _safe(fn: Callable[[LabelledSeries], dict[str, Any]], series: LabelledSeries) -> dict[str, Any]:
    try:
        return fn(series)
    except ValueError as exc:
        return {"error": str(exc), "source": series.source}
