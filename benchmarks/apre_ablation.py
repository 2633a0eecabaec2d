"""APRE + MSS against plain AE-MSE on the development benchmark, with an ablation of MSS.

Trains, per labelled univariate series of ../shared/benchmark, one `ae` and one `apre` network
(window 64, the registry defaults, seed 0, CPU) on rows [0, train_end) and scores rows
[train_end:] with mean VUS-PR (window from `anomalyd.metrics.sliding_window`, as `anomalyd
evaluate`). The APRE network's training does not depend on alpha, beta, k or the number of
mean-shift rounds, and with one round the mean-shift reference is the training windows themselves,
so every scoring variant reuses the one trained network (only the scoring parameters change).
The named baseline is plain AE-MSE; the ratio of every variant to it is printed.

    .venv/bin/python benchmarks/apre_ablation.py --jobs 2          # about 8 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _suite import add_suite_args, labelled_univariate  # noqa: E402

from anomalyd import metrics  # noqa: E402
from anomalyd.detectors import registry  # noqa: E402
from anomalyd.service.suite import LabelledSeries  # noqa: E402

#: (label, mss_rounds, mss_k, alpha, beta); the first row is the `apre` default
VARIANTS = [
    ("APRE+MSS (default: T=1, k=20, a=0.5, b=2)", 1, 20, 0.5, 2.0),
    ("APRE+MSS T=1, k=20, a=b=1 (PRE)", 1, 20, 1.0, 1.0),
    ("APRE+MSS T=1, k=10, a=0.5, b=2", 1, 10, 0.5, 2.0),
    ("APRE+MSS T=1, k=5, a=0.5, b=2", 1, 5, 0.5, 2.0),
    ("APRE+MSS T=1, k=5, a=b=1", 1, 5, 1.0, 1.0),
    ("APRE alone (T=0), a=0.5, b=2", 0, 20, 0.5, 2.0),
    ("APRE alone (T=0), a=b=1 (PRE)", 0, 20, 1.0, 1.0),
    ("APRE alone (T=0), a=1, b=0", 0, 20, 1.0, 0.0),
]


def _vus(s: LabelledSeries, raw: np.ndarray) -> float:
    test = raw[s.train_end :]
    finite = test[np.isfinite(test)]
    filled = np.where(np.isfinite(test), test, finite.min() if finite.size else 0.0)
    window = metrics.sliding_window(s.values[:, 0])
    return float(metrics.vus_pr(s.labels[s.train_end :], filled, window=window))


def run_series(s: LabelledSeries) -> tuple[str, str, list[float]]:
    """VUS-PR of the AE baseline, then of every APRE variant, on one series."""
    import torch

    torch.set_num_threads(1)
    train = s.values[: s.train_end]
    ae = registry.create("ae", {"device": "cpu"}).fit(train)
    out = [_vus(s, ae.score(s.values))]
    base = registry.create("apre", {"device": "cpu"}).fit(train)
    for _, rounds, k, alpha, beta in VARIANTS:
        det = copy.copy(base)  # same network; only scoring parameters differ
        det.mss_rounds, det.mss_k, det.alpha, det.beta = rounds, k, alpha, beta
        det.ref_ = base.ref_[:rounds]  # level 0 = the training windows, whatever k is
        out.append(_vus(s, det.score(s.values)))
    return s.name, s.source, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_suite_args(parser)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    suite = labelled_univariate(args)
    if suite is None:
        return
    by_source: dict[str, list[list[float]]] = defaultdict(list)
    with ProcessPoolExecutor(args.jobs) as pool:
        for _, source, vus in pool.map(run_series, suite):
            by_source[source].append(vus)
            by_source["ALL"].append(vus)
    sources = ["ALL", *sorted(k for k in by_source if k != "ALL")]
    means = {k: np.mean(by_source[k], axis=0) for k in sources}
    print(f"{len(suite)} series; mean VUS-PR; baseline: plain AE-MSE (`ae`)")
    print(f"{'variant':<44}" + "".join(f"{k:>7}" for k in sources) + f"{'vs ae':>8}")
    labels = ["ae (AE-MSE, the baseline)", *(v[0] for v in VARIANTS)]
    for i, label in enumerate(labels):
        row = "".join(f"{means[k][i]:>7.3f}" for k in sources)
        print(f"{label:<44}{row}{means['ALL'][i] / means['ALL'][0]:>7.2f}x")


if __name__ == "__main__":
    main()
