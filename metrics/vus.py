"""VUS-PR and VUS-ROC (volume under the range-based PR / ROC surface), exact and fast.

Definition (TSB-AD ``generate_curve(labels, scores, window, version='opt', thre=250)``,
i.e. ``basic_metricor.RangeAUC_volume_opt``; the numbers agree to 1e-9):

* Events are the maximal runs of ``labels == 1``; ``P`` is the number of anomalous points.
* 250 thresholds ``t_k = sort(scores, descending)[linspace(0, n - 1, 250).astype(int)]``
  (repeated when ``n < 250``); at threshold ``t_k`` a point is predicted iff ``score >= t_k``.
* For each buffer ``w`` in ``0..window`` (``h = w // 2``), labels are softened: a point at
  distance ``d`` (``1 <= d <= h``) after an event's end or before an event's start gets
  ``sqrt(1 - d / w)``; contributions of several events add up; an event point is 1; everything
  is capped at 1. The extended events are ``[start - h, end + h]`` (clipped), two neighbours
  merged unless ``end_i + h < start_{i+1} - h``.
* Per threshold: ``TP`` = sum of softened labels over predicted points;
  ``N_labels = P + TP - (predicted event points)``; ``P_new = (P + N_labels) / 2``;
  ``TPR = min(TP / P_new, 1) * existence`` where existence is the share of extended events
  holding a predicted point; ``FPR = (N_pred - TP) / (n - P_new)``; ``precision = TP / N_pred``.
* ROC curve: ``(0, 0)``, the 250 points, ``(1, 1)``, trapezoid rule. PR: step-wise,
  ``sum_k (TPR_k - TPR_{k-1}) * precision_k`` over the 250 points (``TPR_0 = 0``).
* VUS-ROC / VUS-PR are the means over the ``window + 1`` buffers.

Fast formulation (same numbers): every point gets the index of the first threshold that
predicts it; then per buffer one pass over the points near events builds a histogram of softened
label mass (and of extended events' first hit) over those threshold indices, and cumulative sums
give every threshold's counts at once. Cost: ``O(n log n + window * (m + 250))`` where ``m`` is
the number of points within ``window // 2`` of an event, instead of the reference's
``O(window * 250 * n)``.

A point receiving two or more soft contributions is always 1: each contribution is
``sqrt(1 - d / w) >= sqrt(0.5)`` because ``d <= w // 2``, so two already exceed the cap.

Labels with a single class (no anomaly, or no normal point) have no defined VUS: the reference
raises ``IndexError`` there. We return ``nan`` for both, like scikit-learn's ``roc_auc_score``
on single-class labels; callers averaging over series should skip those series (``np.nanmean``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.metrics._validation import FloatArray, IntArray, check_int, check_labels_scores

N_THRESHOLDS = 250
"""Number of score thresholds per buffer (TSB-AD's ``thre=250``)."""


class Vus(NamedTuple):
    """VUS-PR and VUS-ROC of one (labels, scores, window) triple."""

    pr: float
    roc: float


def vus(labels: npt.ArrayLike, scores: npt.ArrayLike, *, window: int) -> Vus:
    """Return ``Vus(pr, roc)``: VUS-PR and VUS-ROC in one pass (they share all the work).

    ``labels``: 0/1 per point; ``scores``: finite, higher = more anomalous; ``window``: the
    largest buffer (an int >= 0; TSB-AD's ``slidingWindow``, see
    ``anomalyd.metrics.sliding_window``). Both are ``nan`` when the labels hold a single class (see
    the module docstring).
    """
    lab, sc = check_labels_scores(labels, scores)
    w_max = check_int(window, "window", minimum=0)
    n_pos = int(lab.sum())
    if n_pos == 0 or n_pos == lab.shape[0]:
        return Vus(math.nan, math.nan)
    starts, ends = event_bounds(lab)
    first_hit = threshold_index(sc, N_THRESHOLDS)
    auc_sum, ap_sum = _volume(starts, ends, first_hit, w_max, N_THRESHOLDS)
    return Vus(pr=ap_sum / (w_max + 1), roc=auc_sum / (w_max + 1))


class VusSurface(NamedTuple):
    """The range-based PR and ROC curves behind VUS-PR / VUS-ROC, one per buffer.

    ``thresholds`` has shape (n_thresholds,) (250, non-increasing); ``recall`` (the
    range-based TPR), ``fpr`` and ``precision`` have shape (window + 1, n_thresholds): row ``w``
    is buffer ``w``, column ``k`` threshold ``k``. VUS-PR is the mean over rows of the step-wise
    area ``sum_k (recall[w, k] - recall[w, k - 1]) * precision[w, k]`` (``recall[w, -1] = 0``).
    """

    thresholds: FloatArray
    recall: FloatArray
    fpr: FloatArray
    precision: FloatArray


def vus_surface(labels: npt.ArrayLike, scores: npt.ArrayLike, *, window: int) -> VusSurface:
    """The curves :func:`vus` averages the areas of (same inputs and checks).

    Raises ValueError, as :func:`vus`, for invalid inputs, and also for labels with a single
    class (no curve is defined there).
    """
    lab, sc = check_labels_scores(labels, scores)
    w_max = check_int(window, "window", minimum=0)
    n_pos = int(lab.sum())
    if n_pos == 0 or n_pos == lab.shape[0]:
        raise ValueError("labels hold a single class: no range-based curve is defined.")
    starts, ends = event_bounds(lab)
    thr = thresholds(sc, N_THRESHOLDS)
    first_hit = _first_at_most(thr, sc)
    return VusSurface(thr, *_surface(starts, ends, first_hit, w_max, N_THRESHOLDS))


def vus_pr(labels: npt.ArrayLike, scores: npt.ArrayLike, *, window: int) -> float:
    """VUS-PR: mean over buffers ``0..window`` of the range-based average precision."""
    return vus(labels, scores, window=window).pr


def vus_roc(labels: npt.ArrayLike, scores: npt.ArrayLike, *, window: int) -> float:
    """VUS-ROC: mean over buffers ``0..window`` of the range-based ROC area."""
    return vus(labels, scores, window=window).roc


def event_bounds(labels: IntArray) -> tuple[IntArray, IntArray]:
    """Inclusive ``(starts, ends)`` of the runs of ones in a 0/1 array."""
    padded = np.concatenate(([0], labels, [0]))
    change = np.diff(padded)
    starts = np.flatnonzero(change == 1).astype(np.int64)
    ends = (np.flatnonzero(change == -1) - 1).astype(np.int64)
    return starts, ends


def thresholds(scores: FloatArray, count: int) -> FloatArray:
    """The reference's thresholds: descending sorted scores at ``linspace(0, n-1, count)``."""
    desc = np.sort(scores)[::-1]
    return desc[np.linspace(0, scores.shape[0] - 1, count).astype(int)]


def threshold_index(scores: FloatArray, count: int) -> IntArray:
    """Per point, the index of the first threshold ``t_k`` (non-increasing) with ``score >= t_k``.

    The smallest threshold is the minimum score, so every point gets an index < ``count``.
    """
    return _first_at_most(thresholds(scores, count), scores)


@njit(cache=True)
def _first_at_most(thr: FloatArray, scores: FloatArray) -> IntArray:
    """Per score ``s``, the first ``k`` with ``thr[k] <= s`` (``thr`` non-increasing)."""
    out = np.empty(scores.shape[0], dtype=np.int64)
    for i in range(scores.shape[0]):
        lo, hi = 0, thr.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if thr[mid] <= scores[i]:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo
    return out


@njit(cache=True)
def _soft_roots(w: int, n: int) -> FloatArray:
    """``root[d] = sqrt(1 - d / w)`` for ``d = 1..min(w // 2, n)``: the reference's own
    operations, so the same bits."""
    h = min(w // 2, n)
    root = np.ones(h + 1, dtype=np.float64)
    for d in range(1, h + 1):
        root[d] = math.sqrt(1.0 - d / w)
    return root


@njit(cache=True)
def _buffer_histograms(
    starts: IntArray,
    ends: IntArray,
    first_hit: IntArray,
    event_mass: FloatArray,
    event_min: IntArray,
    w: int,
    n_thr: int,
) -> tuple[FloatArray, IntArray, int]:
    """For buffer ``w``: soft-label mass per first-hit threshold, extended events per first-hit
    threshold, and the number of extended events.

    Walks gap ``g`` (between event ``g - 1`` and event ``g``) in two parts: the points within
    ``h`` after ``end[g-1]`` and the remaining points within ``h`` before ``start[g]``. A point
    with a second contribution (``start[g]`` or ``end[g-2]`` also within ``h`` in the first part,
    ``start[g+1]`` in the second) is 1. Points beyond ``h`` of every event add nothing and are
    never visited.
    """
    n = first_hit.shape[0]
    n_ev = starts.shape[0]
    h = w // 2
    far = n + w + 1  # beyond every index
    root = _soft_roots(w, n)
    mass = event_mass.copy()
    seg_first = np.zeros(n_thr, dtype=np.int64)
    n_seg = 0
    seg_min = n_thr
    for g in range(n_ev + 1):
        lo = ends[g - 1] + 1 if g >= 1 else 0
        hi = starts[g] - 1 if g < n_ev else n - 1
        # part 1: right tail of event g - 1
        right_end = min(ends[g - 1] + h, hi) if g >= 1 else lo - 1
        one_from = starts[g] - h if g < n_ev else far
        one_upto = ends[g - 2] + h if g >= 2 else -1
        for i in range(lo, right_end + 1):
            v = 1.0 if (i >= one_from or i <= one_upto) else root[i - ends[g - 1]]
            k = first_hit[i]
            mass[k] += v
            seg_min = min(seg_min, k)
        if 1 <= g < n_ev and ends[g - 1] + h < starts[g] - h:  # the reference's split rule
            seg_first[seg_min] += 1
            n_seg += 1
            seg_min = n_thr
        # part 2: left tail of event g (points not already visited)
        if g < n_ev:
            one_from = starts[g + 1] - h if g + 1 < n_ev else far
            for i in range(max(starts[g] - h, right_end + 1), hi + 1):
                v = 1.0 if i >= one_from else root[starts[g] - i]
                k = first_hit[i]
                mass[k] += v
                seg_min = min(seg_min, k)
            seg_min = min(seg_min, event_min[g])
    seg_first[seg_min] += 1
    n_seg += 1
    return mass, seg_first, n_seg


@njit(cache=True)
def _curve_points(
    tp: FloatArray,
    tp_events: FloatArray,
    n_pred: FloatArray,
    existence: FloatArray,
    n_pos: float,
    n: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(TPR, FPR, precision) of one buffer at every threshold, each of shape (n_thresholds,)."""
    n_thr = tp.shape[0]
    tpr, fpr, precision = np.empty(n_thr), np.empty(n_thr), np.empty(n_thr)
    for k in range(n_thr):
        n_labels = n_pos + tp[k] - tp_events[k]
        p_new = (n_pos + n_labels) / 2.0
        tpr[k] = min(tp[k] / p_new, 1.0) * existence[k]
        fpr[k] = (n_pred[k] - tp[k]) / (n - p_new)
        precision[k] = tp[k] / n_pred[k]
    return tpr, fpr, precision


@njit(cache=True)
def _curve_areas(tpr: FloatArray, fpr: FloatArray, precision: FloatArray) -> tuple[float, float]:
    """ROC area (trapezoid, with (0,0) and (1,1) added) and step-wise AP of one buffer."""
    auc = 0.0
    ap = 0.0
    prev_tpr = 0.0
    prev_fpr = 0.0
    for k in range(tpr.shape[0]):
        auc += (fpr[k] - prev_fpr) * (tpr[k] + prev_tpr) / 2.0
        ap += (tpr[k] - prev_tpr) * precision[k]
        prev_tpr = tpr[k]
        prev_fpr = fpr[k]
    auc += (1.0 - prev_fpr) * (1.0 + prev_tpr) / 2.0
    return auc, ap


@njit(cache=True)
def _surface(
    starts: IntArray,
    ends: IntArray,
    first_hit: IntArray,
    w_max: int,
    n_thr: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TPR, FPR and precision of every buffer ``0..w_max`` at every threshold: each of shape
    (w_max + 1, n_thr)."""
    n = first_hit.shape[0]
    n_ev = starts.shape[0]
    n_pred = np.cumsum(np.bincount(first_hit, minlength=n_thr)).astype(np.float64)
    event_mass = np.zeros(n_thr, dtype=np.float64)
    event_min = np.full(n_ev, n_thr, dtype=np.int64)
    n_pos = 0
    for g in range(n_ev):
        for i in range(starts[g], ends[g] + 1):
            k = first_hit[i]
            event_mass[k] += 1.0
            event_min[g] = min(event_min[g], k)
        n_pos += ends[g] - starts[g] + 1
    tp_events = np.cumsum(event_mass)
    tpr = np.empty((w_max + 1, n_thr))
    fpr = np.empty((w_max + 1, n_thr))
    precision = np.empty((w_max + 1, n_thr))
    for w in range(w_max + 1):
        mass, seg_first, n_seg = _buffer_histograms(
            starts, ends, first_hit, event_mass, event_min, w, n_thr
        )
        existence = np.cumsum(seg_first).astype(np.float64) / n_seg
        tpr[w], fpr[w], precision[w] = _curve_points(
            np.cumsum(mass), tp_events, n_pred, existence, float(n_pos), n
        )
    return tpr, fpr, precision


@njit(cache=True)
def _volume(
    starts: IntArray,
    ends: IntArray,
    first_hit: IntArray,
    w_max: int,
    n_thr: int,
) -> tuple[float, float]:
    """Sums over buffers ``0..w_max`` of the ROC area and the AP."""
    tpr, fpr, precision = _surface(starts, ends, first_hit, w_max, n_thr)
    auc_sum = 0.0
    ap_sum = 0.0
    for w in range(w_max + 1):
        auc, ap = _curve_areas(tpr[w], fpr[w], precision[w])
        auc_sum += auc
        ap_sum += ap
    return auc_sum, ap_sum
