"""The curves behind a series' AUC-PR and VUS-PR, for the dashboard: what those numbers average.

Both are computed on the measured rows exactly as ``anomalyd evaluate`` does (warm-up points
rank lowest), so the areas drawn are the numbers in the leaderboard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, precision_recall_curve

from anomalyd.metrics.vus import vus_surface
from anomalyd.service.evaluation import fill_warmup

MAX_STEPS = 1000
"""A drawn point-wise PR curve has at most this many steps (merged keeping the area)."""
BUFFER_SLICES = 9
"""Buffers drawn of the VUS surface (evenly over 0..window, both ends kept)."""


@dataclass(frozen=True)
class Curves:
    """One detector's curves on one series.

    Curves are drawn as the steps their areas sum (each threshold's recall gain times its
    precision), so the area under the line drawn is the figure. ``recall`` / ``precision``: the
    point-wise PR curve (scikit-learn's) as step vertices by increasing recall, at most
    ``MAX_STEPS`` steps (narrow ones merged, area kept); ``auc_pr`` its average precision.
    ``buffers``: the buffer lengths drawn; ``vus_recall`` / ``vus_precision``: their
    range-based PR curves as step vertices in threshold order (two per threshold);
    ``buffer_ap``: the step-wise area of every buffer ``0..window``, whose mean is ``vus_pr``.
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
    # scikit-learn orders by rising threshold (falling recall); the step from recall[i + 1] to
    # recall[i] has height precision[i]
    step_x, step_y = _merged(recall[::-1], precision[-2::-1], MAX_STEPS)
    surface = vus_surface(labels, scores, window=window)
    steps = np.diff(surface.recall, axis=1, prepend=0.0) * surface.precision
    buffer_ap = steps.sum(axis=1)
    drawn = _evenly(window + 1, BUFFER_SLICES)
    slices = [_steps(np.insert(surface.recall[w], 0, 0.0), surface.precision[w]) for w in drawn]
    return Curves(
        auc_pr=float(average_precision_score(labels, scores)),
        recall=step_x.tolist(),
        precision=step_y.tolist(),
        window=window,
        vus_pr=float(buffer_ap.mean()),
        buffers=drawn.tolist(),
        vus_recall=[x.tolist() for x, _ in slices],
        vus_precision=[y.tolist() for _, y in slices],
        buffer_ap=buffer_ap.tolist(),
    )


def _merged(
    edges: npt.NDArray[np.float64], heights: npt.NDArray[np.float64], most: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """:func:`_steps`, with more than ``most`` steps merged into ``most`` equal recall bins,
    each as high as its steps' mean height weighted by width (so the area is kept)."""
    if len(heights) <= most:
        return _steps(edges, heights)
    area = np.concatenate(([0.0], np.cumsum(np.diff(edges) * heights)))
    grid = np.unique(np.linspace(edges[0], edges[-1], most + 1))
    return _steps(grid, np.diff(np.interp(grid, edges, area)) / np.diff(grid))


def _steps(
    edges: npt.NDArray[np.float64], heights: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vertices of the step line whose k-th step spans ``edges[k]..edges[k + 1]`` at
    ``heights[k]``: shapes (n + 1,) and (n,) in, (2n,) and (2n,) out."""
    x = np.column_stack((edges[:-1], edges[1:])).ravel()
    return x, np.repeat(heights, 2)


def _evenly(n: int, most: int) -> npt.NDArray[np.int64]:
    """At most ``most`` indices of ``range(n)``, evenly spread, first and last kept."""
    if n <= most:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))
