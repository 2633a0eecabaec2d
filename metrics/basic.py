"""Point-wise metrics as TSB-AD reports them (``TSB_AD/evaluation/basic_metrics.py``).

* ``auc_roc``: ``metric_ROC`` = ``sklearn.metrics.roc_auc_score``.
* ``auc_pr``: ``metric_PR`` = ``sklearn.metrics.average_precision_score`` (step-wise AP, not a
  trapezoid).
* ``best_f1``: ``metric_PointF1`` ("Standard-F1"): the largest ``2 P R / (P + R + 1e-5)`` over
  the points of ``sklearn.metrics.precision_recall_curve`` (every distinct score as a threshold,
  prediction ``score >= threshold``). The ``1e-5`` is TSB-AD's; a perfect detector gets
  ``2 / (2 + 1e-5)``, not 1.
* ``pa_f1``: ``metric_PointF1PA`` ("PA-F1"): 100 thresholds ``linspace(min, max, 100)``,
  prediction ``score > threshold`` (strict), point adjustment (an event with one predicted
  point counts as fully predicted), plain F1; the best of the 100.

Labels with a single class: ``auc_roc`` and ``auc_pr`` are ``nan`` (not defined; scikit-learn
also returns ``nan`` for AUC-ROC, and would give a meaningless 0 or 1 for AP). ``best_f1`` and
``pa_f1`` keep TSB-AD's values there (0.0 with no anomaly, since no prediction can be right).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from anomalyd.metrics._validation import FloatArray, IntArray, check_labels_scores

F1_EPS = 1e-5
"""TSB-AD's ``metric_PointF1`` adds this to ``P + R``."""
PA_THRESHOLDS = 100
"""TSB-AD's ``metric_PointF1PA`` tries this many evenly spaced thresholds."""


def auc_roc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the point-wise ROC curve; ``nan`` when the labels hold a single class."""
    lab, sc = check_labels_scores(labels, scores)
    if _single_class(lab):
        return math.nan
    return float(roc_auc_score(lab, sc))


def auc_pr(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average precision (scikit-learn's step-wise AUC-PR); ``nan`` for single-class labels."""
    lab, sc = check_labels_scores(labels, scores)
    if _single_class(lab):
        return math.nan
    return float(average_precision_score(lab, sc))


def best_f1(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """TSB-AD's "Standard-F1": best ``2PR / (P + R + 1e-5)`` over all score thresholds."""
    lab, sc = check_labels_scores(labels, scores)
    if not lab.any():
        return 0.0  # precision is 0 at every threshold (scikit-learn would also warn)
    precision, recall, _ = precision_recall_curve(lab, sc)
    return float(np.max(2 * (precision * recall) / (precision + recall + F1_EPS)))


def pa_f1(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """TSB-AD's "PA-F1": best point-adjusted F1 over ``linspace(min, max, 100)`` thresholds.

    At threshold ``t`` the prediction is ``score > t``; every event holding a predicted point
    becomes fully predicted. One quirk of TSB-AD's ``_adjust_predicts`` is kept: its backward
    fill stops before index 0, so an event starting at index 0 that is first detected later
    keeps point 0 unpredicted (unless its own score is above ``t``).
    """
    lab, sc = check_labels_scores(labels, scores)
    grid = np.linspace(sc.min(), sc.max(), PA_THRESHOLDS)
    tp = _adjusted_true_positives(lab, sc, grid)
    normal = np.sort(sc[lab == 0])
    fp = normal.shape[0] - np.searchsorted(normal, grid, side="right")
    fn = int(lab.sum()) - tp
    denom = 2 * tp + fn + fp
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(grid.shape[0]), where=denom > 0)
    return float(f1.max())


def _adjusted_true_positives(labels: IntArray, scores: FloatArray, grid: FloatArray) -> IntArray:
    """Point-adjusted true positives at each threshold of ``grid`` (prediction ``score > t``)."""
    padded = np.diff(np.concatenate(([0], labels, [0])))
    starts = np.flatnonzero(padded == 1)
    ends = np.flatnonzero(padded == -1)  # exclusive
    if starts.size == 0:
        return np.zeros(grid.shape[0], dtype=np.int64)
    # reduceat over `starts` spans each event plus the normal gap after it: mask the gaps
    peak = np.maximum.reduceat(np.where(labels == 1, scores, -np.inf), starts)
    order = np.argsort(peak)
    lengths = (ends - starts)[order]
    covered = np.concatenate(([0], np.cumsum(lengths)))
    n_missed = np.searchsorted(peak[order], grid, side="right")
    tp = covered[-1] - covered[n_missed]
    if starts[0] == 0:
        # TSB-AD never back-fills index 0: detected later, point 0 stays a false negative
        tp = tp - ((peak[0] > grid) & (scores[0] <= grid))
    return tp.astype(np.int64)


def _single_class(labels: IntArray) -> bool:
    """True when ``labels`` has no anomaly or no normal point."""
    n_pos = int(labels.sum())
    return n_pos == 0 or n_pos == labels.shape[0]
