"""The development benchmark as the quality benchmarks read it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from service.suite import LabelledSeries, load_suite

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
