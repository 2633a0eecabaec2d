"""Fingerprints of the detectors' scores on the development benchmark, to show a change that
should not move a score (a restructuring, a faster kernel) moves none.

Each detector is fitted on each series' training prefix (with its alert line, as ``anomalyd
evaluate`` does), scores the whole series in one call, and scores the points after the prefix
again as the service does, a few at a time through ``StreamScorer.update_many`` (the compiled
streaming paths); the SHA-256 of the raw scores, the alert scores (``anomaly_score``) and the
streamed scores is the series' fingerprint. ``--max-points`` cuts long series (the training
prefix to at most half of what is kept) so that a pass over the suite takes minutes.
``--out FILE`` writes them as JSON; ``--compare FILE`` checks them against a file written
before the change and exits 1 when any differs, naming the detector and series::

    python benchmarks/score_digest.py --every 4 --out before.json     # on the old code
    python benchmarks/score_digest.py --every 4 --compare before.json  # on the new code
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from anomalyd.detectors import registry
from anomalyd.detectors.crossfit import fit_calibrated
from anomalyd.detectors.streaming import StreamScorer
from anomalyd.service.suite import LabelledSeries, load_suite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suite import BENCH, per_series  # noqa: E402

#: every registered detector but THEMIS (it needs model weights), with its defaults
DEFAULT_DETECTORS = tuple(n for n in registry.names() if n != "themis")
#: points after the training prefix that are also streamed, and how many per update
STREAMED, CHUNK = 400, 10


def fingerprint(series: LabelledSeries, detector: str, max_points: int) -> dict[str, Any]:
    """``{"digest": sha256 hex}`` of one series' scores (NaN included)."""
    x = series.values[:max_points]
    train_end = min(series.train_end, max_points // 2)
    fitted = fit_calibrated(registry.create(detector, {}), x[:train_end])
    raw = fitted.detector.score(x)
    scorer = StreamScorer(fitted.detector, context=x[:train_end])
    chunks = range(train_end, min(len(x), train_end + STREAMED), CHUNK)
    streamed = [StreamScorer.update_many([scorer], [x[lo : lo + CHUNK]])[0] for lo in chunks]
    digest = hashlib.sha256()
    for part in (raw, fitted.calibrator.transform(raw[train_end:]), *streamed):
        digest.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    return {"digest": digest.hexdigest(), "source": series.source}


def digests(
    suite: list[LabelledSeries], detectors: list[str], jobs: int, max_points: int
) -> dict[str, Any]:
    """``{detector: {series: digest or "error: ..."}}`` over ``suite``."""
    out: dict[str, Any] = {}
    for name in detectors:
        found = per_series(partial(fingerprint, detector=name, max_points=max_points), suite, jobs)
        out[name] = {s: v.get("digest", "error: " + v.get("error", "")) for s, v in found.items()}
        print(f"{name}: {len(found)} series", flush=True)
    return out


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per (detector, series) whose fingerprint is missing or differs."""
    lines = []
    for name, per in before.items():
        for series, digest in per.items():
            now = after.get(name, {}).get(series)
            if now != digest:
                lines.append(f"{name} on {series}: {digest[:12]} before, {str(now)[:12]} now")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=BENCH)
    parser.add_argument("--every", type=int, default=1, help="take every k-th series")
    parser.add_argument("--detectors", default=",".join(DEFAULT_DETECTORS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-points", type=int, default=6000, help="cut longer series")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    if not (args.suite / "manifest.json").exists():
        print(f"skipped: no benchmark at {args.suite} (needs ../shared/benchmark)")
        return 0
    suite = load_suite(args.suite)[:: args.every]
    found = digests(suite, args.detectors.split(","), args.jobs, args.max_points)
    if args.out:
        args.out.write_text(json.dumps(found, indent=1, sort_keys=True))
    if args.compare:
        lines = differences(json.loads(args.compare.read_text()), found)
        print("\n".join(lines) or f"identical: {sum(map(len, found.values()))} fingerprints")
        return 1 if lines else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
