"""TSB-AD's reference detectors' scores of the development benchmark's univariate series, for
``selection_cv.py --peer-scores``, which measures them placed causally beside our default.

TSB-AD's window detectors put a window's score on the window's centre, or average every window
that holds a point, so the score of point ``t`` uses points after ``t`` (look-ahead) that a
streaming alert cannot wait for. Every file written here keeps, beside the score, that
look-ahead (``lookahead``): how many points later the window whose score a point gets has
ended. Moving the score that many points later removes the placement's look-ahead; the fit
(neighbours, clusters, components, POLY's polynomial) still sees the whole series, test span
included (TSB-AD's protocol), so a peer placed causally keeps an advantage over a detector
fitted on the training span only.

TSB-AD pins numpy < 2, so this runs in its own environment, not the project's:

    python -m venv ~/tsbad && ~/tsbad/bin/pip install torch==2.13.0 TSB-AD==1.5
    ~/tsbad/bin/python benchmarks/tsbad_scores.py --out DIR [--jobs 2] [--match NAB]
    .venv/bin/python benchmarks/selection_cv.py --jobs 2 --peer-scores DIR

Each detector runs as ``TSB_AD.model_wrapper.run_Unsupervise_AD`` with TSB-AD's tuned
hyperparameters (``TSB_AD.HP_list.Optimal_Uni_algo_HP_dict``) on the whole series, as the
published per-series figures (``reference/tsbad_detectors_this_split_dev.csv``) were made;
``selection_cv.py`` prints the re-run's mean beside the published one. Files already in
``--out`` are kept (a stopped run resumes).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "benchmark"
DETECTORS = ("IForest", "KMeansAD_U", "KShapeAD", "MatrixProfile", "POLY", "Sub_LOF", "Sub_PCA")
#: TSB-AD's run_IForest window (its tuned hyperparameters leave the default)
IFOREST_WINDOW = 100


def lookahead(detector: str, window: int) -> int:
    """Points after ``t`` that TSB-AD's score of ``t`` uses through where it places window
    scores: about half a window for scores put on the window's centre (IForest, Sub-LOF,
    Sub-PCA, MatrixProfile); a whole window less one for the mean over every window holding
    ``t`` (KMeansAD, KShapeAD) and for POLY's block scores (every point of a block gets the
    block's score; POLY's fit also uses later points, which no shift removes). Raises
    ValueError for another detector."""
    if detector in ("IForest", "Sub_LOF", "Sub_PCA"):
        return (window - 1) // 2
    if detector == "MatrixProfile":
        return window - 1 - window // 2
    if detector in ("KMeansAD_U", "KShapeAD", "POLY"):
        return window - 1
    raise ValueError(f"No look-ahead known for {detector!r}; one of {', '.join(DETECTORS)}.")


def _suite_module() -> Any:
    """The project's suite loader, by path (importing the package would need numpy >= 2)."""
    spec = importlib.util.spec_from_file_location("suite", ROOT / "service" / "suite.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["suite"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def score_one(values: np.ndarray, detector: str, out: Path) -> str:
    """Run ``detector`` on ``values`` (shape (n_points,)) and write ``out``; a line saying what
    happened."""
    from TSB_AD.HP_list import Optimal_Uni_algo_HP_dict
    from TSB_AD.model_wrapper import run_Unsupervise_AD
    from TSB_AD.utils.slidingWindows import find_length_rank

    x = values.astype(float).reshape(-1, 1)
    params = Optimal_Uni_algo_HP_dict[detector]
    window = IFOREST_WINDOW if detector == "IForest" else find_length_rank(x, params["periodicity"])
    start = time.perf_counter()
    score = np.asarray(run_Unsupervise_AD(detector, x, **params), dtype=float).ravel()
    if score.shape != (len(x),):
        return f"{out.stem}: no score ({detector} failed)"
    seconds = time.perf_counter() - start
    np.savez(out, score=score, window=window, lookahead=lookahead(detector, int(window)))
    return f"{out.stem}: {seconds:.1f} s"


def _task(item: tuple[np.ndarray, str, Path]) -> str:
    try:
        return score_one(*item)
    except Exception as exc:  # noqa: BLE001 (TSB-AD raises anything; report and go on)
        return f"{item[2].stem}: no score ({exc})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=BENCH)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--match", default="", help="only series whose name contains this")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if not (args.suite / "manifest.json").exists():
        sys.exit(f"skipped: no benchmark at {args.suite} (needs ../shared/benchmark)")
    args.out.mkdir(parents=True, exist_ok=True)
    suite = _suite_module().load_suite(args.suite, univariate_only=True)
    items = [
        (s.values[:, 0], d, args.out / f"{s.name}__{d}.npz")
        for s in suite
        if args.match in s.name
        for d in DETECTORS
        if not (args.out / f"{s.name}__{d}.npz").exists()
    ]
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for line in pool.imap_unordered(_task, items):
            print(line, flush=True)


if __name__ == "__main__":
    main()
