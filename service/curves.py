"""The curves behind a series' AUC-PR and VUS-PR, for the dashboard: what those numbers average.

Both are computed on the measured rows exactly as ``anomalyd evaluate`` does (warm-up points
rank lowest), so the areas drawn are the numbers in the leaderboard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, precision_recall_curve

from metrics.vus import vus_surface
from service.evaluation import fill_warmup

MAX_CURVE_POINTS = 500
"""A drawn PR curve keeps at most this many of its points (evenly along it, ends kept)."""
BUFFER_SLICES = 9
"""Buffers drawn of the VUS surface (evenly over 0..window, both ends kept)."""


@dataclass(frozen=True)
class Curves:
    """One detector's curves on one series.

    ``recall`` / ``precision``: the point-wise PR curve (scikit-learn's), thinned to at most
    ``MAX_CURVE_POINTS`` points, ordered by recall; ``auc_pr`` its average precision.
    ``buffers``: the buffer lengths drawn; ``vus_recall`` / ``vus_precision``: their range-based
    PR curves (one list per buffer, 250 thresholds, ordered by recall); ``buffer_ap``: the
    step-wise area of every buffer ``0..window``, whose mean is ``vus_pr``.
    """

    auc_pr: float
    recall: list[float]
    precision: list[float]
    window: int
    vus_pr: float
    buffers: list[int]
    vus_recall: list[list[float]]
    vus_precision: list[list[float]]
    buffer_ap: list[float]


def curves(labels: npt.NDArray[np.int64], raw: npt.NDArray[np.float64], window: int) -> Curves:
    """The curves of the measured rows: ``labels`` and ``raw`` scores of shape (n_rows,)
    (NaN = no score yet). Raises ValueError when the labels hold a single class."""
    scores = fill_warmup(raw)
    precision, recall, _ = precision_recall_curve(labels, scores)
    keep = _evenly(len(recall), MAX_CURVE_POINTS)
    surface = vus_surface(labels, scores, window=window)
    steps = np.diff(surface.recall, axis=1, prepend=0.0) * surface.precision
    buffer_ap = steps.sum(axis=1)
    drawn = _evenly(window + 1, BUFFER_SLICES)
    order = [np.argsort(surface.recall[w], kind="stable") for w in drawn]
    return Curves(
        auc_pr=float(average_precision_score(labels, scores)),
        recall=recall[keep][::-1].tolist(),
        precision=precision[keep][::-1].tolist(),
        window=window,
        vus_pr=float(buffer_ap.mean()),
        buffers=drawn.tolist(),
        vus_recall=[surface.recall[w][o].tolist() for w, o in zip(drawn, order, strict=True)],
        vus_precision=[surface.precision[w][o].tolist() for w, o in zip(drawn, order, strict=True)],
        buffer_ap=buffer_ap.tolist(),
    )


def _evenly(n: int, most: int) -> npt.NDArray[np.int64]:
    """At most ``most`` indices of ``range(n)``, evenly spread, first and last kept."""
    if n <= most:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))
