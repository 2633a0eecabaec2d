"""Quality of detectors on the development benchmark against TSB-AD's detectors on the same split.

Runs `anomalyd evaluate`'s engine (fit on rows [0, train_end), score all, measure rows
[train_end:]) on the labelled univariate series of ../shared/benchmark and prints, per detector,
mean VUS-PR overall and per source, next to the seven TSB-AD detectors run with TSB-AD's own
code on this very split, and the ratio to the best of them (the named baseline).

    python benchmarks/detector_quality.py                      # the default detector
    python benchmarks/detector_quality.py --detector lof --detector subpca --match NAB
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _suite import add_suite_args, labelled_univariate  # noqa: E402

from anomalyd.detectors import DEFAULT_DETECTOR  # noqa: E402
from anomalyd.service.evaluation import load_reference, run_suite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_suite_args(parser)
    parser.add_argument("--detector", action="append", default=None)
    args = parser.parse_args()
    suite = labelled_univariate(args)
    if suite is None:
        return
    doc = run_suite(suite, [(d, {}) for d in args.detector or [DEFAULT_DETECTOR]])
    names = {s.name for s in suite}
    reference = {
        k: {s: v for s, v in per.items() if s in names}
        for k, per in load_reference(args.suite).items()
    }
    best_name, best = max(
        ((k, float(np.mean(list(v.values())))) for k, v in reference.items() if v),
        key=lambda kv: kv[1],
    )
    print(f"{len(suite)} labelled univariate series; baseline: best TSB-AD detector {best_name}")
    print(f"{'detector':<26}{'VUS-PR':>8}{'PATE':>8}{'vs ' + best_name:>16}")
    for run in doc["runs"]:
        vus = run["summary"]["vus_pr"]
        pate = run["summary"]["pate"]
        print(f"{run['detector']:<26}{vus:>8.3f}{pate:>8.3f}{vus / best:>15.2f}x")
    for name, per in sorted(reference.items()):
        if per:
            vus = float(np.mean(list(per.values())))
            print(f"{name + ' (TSB-AD)':<26}{vus:>8.3f}{'-':>8}{vus / best:>15.2f}x")


if __name__ == "__main__":
    main()
