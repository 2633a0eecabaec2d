"""Slow, literal VUS reference for tests: a plain restatement of TSB-AD's ``RangeAUC_volume_opt``.

Loops over every buffer; for each, builds the 250 binary predictions (one row per threshold) and
recomputes everything from scratch, exactly as the definition reads (see ``metrics/vus.py``).
Cost ``O(window * 250 * n)``: small inputs only.
Single-class labels give ``(nan, nan)``, the documented choice of ``anomalyd.metrics.vus``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

N_THRESHOLDS = 250


def runs_of_ones(labels: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """Inclusive (start, end) of every maximal run of ones, by walking the array."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, value in enumerate(labels):
        if value == 1 and start is None:
            start = i
        if value == 0 and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(labels) - 1))
    return runs


def extended_segments(runs: list[tuple[int, int]], n: int, w: int) -> list[tuple[int, int]]:
    """Events grown by ``w // 2`` on both sides; neighbours merge unless
    ``end_i + w//2 < start_{i+1} - w//2``; the first start and last end are clipped."""
    h = w // 2
    segments: list[tuple[int, int]] = []
    seg_start = max(runs[0][0] - h, 0)
    for (_, end), (next_start, _) in zip(runs[:-1], runs[1:], strict=True):
        if end + h < next_start - h:
            segments.append((seg_start, end + h))
            seg_start = next_start - h
    segments.append((seg_start, min(runs[-1][1] + h, n - 1)))
    return segments


def softened_labels(labels: npt.NDArray[np.int64], w: int) -> npt.NDArray[np.float64]:
    """Add ``sqrt(1 - d/w)`` at distance d = 1..w//2 after each end and before each start,
    then cap at 1."""
    n = len(labels)
    h = w // 2
    soft = labels.astype(np.float64)
    for start, end in runs_of_ones(labels):
        for d in range(1, h + 1):
            if end + d < n:
                soft[end + d] += math.sqrt(1 - d / w)
            if start - d >= 0:
                soft[start - d] += math.sqrt(1 - d / w)
    return np.minimum(soft, 1.0)


def curve_points(
    labels: npt.NDArray[np.int64],
    soft: npt.NDArray[np.float64],
    pred: npt.NDArray[np.bool_],
    segments: list[tuple[int, int]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(TPR, FPR, precision) of binary predictions, one per row of ``pred``, for one buffer."""
    n = len(labels)
    n_pos = float(labels.sum())
    credited = np.where(labels == 1, 1.0, soft * pred)  # soft labels kept only where predicted
    tp = np.sum(credited * pred, axis=1)
    n_labels = np.sum(credited, axis=1)
    hit = np.zeros(pred.shape[0])
    for s, e in segments:
        hit += pred[:, s : e + 1].any(axis=1)
    p_new = (n_pos + n_labels) / 2
    n_pred = pred.sum(axis=1)
    tpr = np.minimum(tp / p_new, 1.0) * hit / len(segments)
    return tpr, (n_pred - tp) / (n - p_new), tp / n_pred


def buffer_areas(
    labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], w: int
) -> tuple[float, float]:
    """(ROC area, AP) for one buffer ``w``."""
    n = len(labels)
    soft = softened_labels(labels, w)
    segments = extended_segments(runs_of_ones(labels), n, w)
    desc = np.array(sorted(scores.tolist(), reverse=True))
    thresholds = desc[np.linspace(0, n - 1, N_THRESHOLDS).astype(int)]
    pred = scores[None, :] >= thresholds[:, None]  # one row per threshold
    tpr_k, fpr_k, prec_k = curve_points(labels, soft, pred, segments)
    tpr = [0.0, *tpr_k.tolist(), 1.0]
    fpr = [0.0, *fpr_k.tolist(), 1.0]
    prec = [1.0, *prec_k.tolist()]
    roc = sum((fpr[k + 1] - fpr[k]) * (tpr[k + 1] + tpr[k]) / 2 for k in range(len(tpr) - 1))
    ap = sum((tpr[k] - tpr[k - 1]) * prec[k] for k in range(1, N_THRESHOLDS + 1))
    return roc, ap


def vus_slow(labels: npt.ArrayLike, scores: npt.ArrayLike, window: int) -> tuple[float, float]:
    """(VUS-PR, VUS-ROC): means over buffers 0..window; ``(nan, nan)`` for one-class labels."""
    lab = np.asarray(labels, dtype=np.int64)
    sc = np.asarray(scores, dtype=np.float64)
    if lab.sum() in (0, len(lab)):
        return math.nan, math.nan
    areas = [buffer_areas(lab, sc, w) for w in range(window + 1)]
    return (
        sum(ap for _, ap in areas) / (window + 1),
        sum(roc for roc, _ in areas) / (window + 1),
    )
