"""PATE: Proximity-Aware Time-series anomaly Evaluation (Ghorbani et al., KDD 2024).

PATE scores a detector by how close its alarms come to each labelled anomaly event, not only
whether they overlap it. Around every event ``A = [s, t]`` there is an *early* (pre-)buffer of
up to ``e_buffer`` points and a *delayed* (post-)buffer of up to ``d_buffer`` points:

* a predicted point inside the event is a full true positive;
* a predicted point in a buffer is partly a true positive, with a weight that falls linearly from
  the event to the far edge of the buffer (pre-buffer points count only when the event itself is
  detected; otherwise they are false positives);
* missed points of a detected event are false negatives weighted by how late they are relative to
  the first detection; a missed event counts in full.

``pate`` sweeps thresholds over continuous scores and returns the area under the resulting
precision/recall curve, averaged over a grid of buffer sizes. ``pate_f1`` does the same for one
binary prediction and returns the mean F1. Both equal PyPI ``PATE==0.1.1`` to 1e-9.

Speed: lowering the threshold only adds predicted points, so each buffer pair is one sweep over
the points in descending score order. Per event we keep counts and position sums in the buffers,
a union-find of predicted runs (for the first detected run) and Fenwick trees over positions (for
the weighted misses), and per-event totals sit in segment trees, so one step costs O(log n) and a
step that changes nothing leaves precision and recall bit-identical.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from metrics._validation import FloatArray, IntArray, check_int, check_labels, check_scores

__all__ = ["pate", "pate_f1"]

# Zone codes: zone[x] = 4 * event + kind, kind 0 meaning "outside every buffer".
_OUT, _PRE, _IN, _POST = 0, 1, 2, 3
# Columns of the per-event state.
_COV, _FIRST, _PRE_CNT, _PRE_SUM, _POST_CNT, _POST_SUM, _DIRTY = 0, 1, 2, 3, 4, 5, 6
_N_STATE = 7


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True)
def _zone_map(geo: IntArray, n: int) -> IntArray:
    """Code of every position: ``4 * event + kind`` (pre / in / post), 0 outside all zones."""
    zone = np.zeros(n, np.int64)
    for k in range(geo.shape[0]):
        s, t, pre_start, post_end = geo[k, 0], geo[k, 1], geo[k, 2], geo[k, 3]
        for x in range(pre_start, s):
            zone[x] = 4 * k + _PRE
        for x in range(s, t + 1):
            zone[x] = 4 * k + _IN
        for x in range(t + 1, post_end + 1):
            zone[x] = 4 * k + _POST
    return zone


@njit(cache=True)
def _fen_add(tree: IntArray, pos: int, value: int) -> None:
    """Fenwick tree: add ``value`` at position ``pos`` (0-based)."""
    i = pos + 1
    while i < tree.shape[0]:
        tree[i] += value
        i += i & -i


@njit(cache=True)
def _fen_prefix(tree: IntArray, pos: int) -> int:
    """Fenwick tree: sum over positions ``0..pos`` (0 when ``pos < 0``)."""
    i = pos + 1
    acc = 0
    while i > 0:
        acc += tree[i]
        i -= i & -i
    return acc


@njit(cache=True)
def _run_end(parent: IntArray, x: int) -> int:
    """First position >= x that is not a predicted event point (union-find, path halving)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def _tree_size(n_leaves: int) -> int:
    """Smallest power of two >= ``n_leaves`` (at least 1)."""
    size = 1
    while size < n_leaves:
        size *= 2
    return size


@njit(cache=True)
def _tree_set(tree: FloatArray, leaf: int, value: float) -> None:
    """Segment tree of sums: set one leaf and recompute its ancestors (root at index 1)."""
    i = tree.shape[0] // 2 + leaf
    tree[i] = value
    i //= 2
    while i >= 1:
        tree[i] = tree[2 * i] + tree[2 * i + 1]
        i //= 2


@njit(cache=True)
def _partial_fn(s: int, t: int, delta: int, fen_cnt: IntArray, fen_sum: IntArray) -> float:
    """Weighted misses of a partly detected event whose first detected run has length ``delta``.

    Missed points up to ``B = s + delta`` count 1; a missed point ``x > B`` counts
    ``1 - (delta + 1) * (x - (s + B) / 2) / (L (L - 1) / 2)``.
    """
    length = t - s + 1
    b = s + delta
    hi = min(b, t)
    miss_le = (hi - s + 1) - (_fen_prefix(fen_cnt, hi) - _fen_prefix(fen_cnt, s - 1))
    if b >= t:
        return float(miss_le)
    miss_gt = (t - b) - (_fen_prefix(fen_cnt, t) - _fen_prefix(fen_cnt, b))
    sum_gt = (b + 1 + t) * (t - b) // 2 - (_fen_prefix(fen_sum, t) - _fen_prefix(fen_sum, b))
    spread = 2 * sum_gt - miss_gt * (s + b)
    return miss_le + miss_gt - float(delta + 1) * float(spread) / float(length * (length - 1))


@njit(cache=True)
def _event_tp(geo_k: IntArray, st_k: IntArray) -> float:
    """Weighted true positives of one event: its hits plus its buffer credits."""
    s, t, pre_start, post_end = geo_k[0], geo_k[1], geo_k[2], geo_k[3]
    tp = float(st_k[_COV])
    if st_k[_POST_CNT] > 0:
        num = st_k[_POST_CNT] * post_end - st_k[_POST_SUM]
        tp += 2.0 * num / (2 * post_end - s - t)
    if st_k[_COV] > 0 and st_k[_PRE_CNT] > 0:
        num = st_k[_PRE_SUM] - st_k[_PRE_CNT] * pre_start
        tp += 2.0 * num / (s + t - 2 * pre_start)
    return tp


@njit(cache=True)
def _event_fn(
    geo_k: IntArray, st_k: IntArray, parent: IntArray, fen_cnt: IntArray, fen_sum: IntArray
) -> float:
    """Weighted false negatives of one event (missed in full, detected in full, or partly)."""
    s, t = geo_k[0], geo_k[1]
    length = t - s + 1
    if st_k[_COV] == 0:
        return float(length)
    if st_k[_COV] == length:
        return 0.0
    first = st_k[_FIRST]
    delta = _run_end(parent, first) - first
    return _partial_fn(s, t, delta, fen_cnt, fen_sum)


@njit(cache=True)
def _add_point(
    x: int,
    zone: IntArray,
    st: IntArray,
    dirty: IntArray,
    n_dirty: int,
    parent: IntArray,
    fen_cnt: IntArray,
    fen_sum: IntArray,
) -> int:
    """Mark point ``x`` as predicted; return the new length of the dirty-event list."""
    code = zone[x]
    kind = code & 3
    if kind == _OUT:
        return n_dirty
    k = code >> 2
    if st[k, _DIRTY] == 0:
        st[k, _DIRTY] = 1
        dirty[n_dirty] = k
        n_dirty += 1
    if kind == _PRE:
        st[k, _PRE_CNT] += 1
        st[k, _PRE_SUM] += x
    elif kind == _POST:
        st[k, _POST_CNT] += 1
        st[k, _POST_SUM] += x
    else:
        st[k, _COV] += 1
        st[k, _FIRST] = min(st[k, _FIRST], x)
        parent[x] = x + 1
        _fen_add(fen_cnt, x, 1)
        _fen_add(fen_sum, x, x)
    return n_dirty


@njit(cache=True)
def _ratios(tp: float, fn: float, n_pred: int) -> tuple[float, float]:
    """(precision, recall); every predicted point carries TP + FP = 1 in total."""
    precision = tp / n_pred if n_pred > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    return precision, recall


@njit(cache=True)
def _sweep(order: IntArray, cuts: IntArray, geo: IntArray, n: int) -> tuple[FloatArray, FloatArray]:
    """Precision and recall after predicting ``order[:cuts[j]]``, for every j (one buffer pair)."""
    n_ev = geo.shape[0]
    zone = _zone_map(geo, n)
    st = np.zeros((n_ev, _N_STATE), np.int64)
    st[:, _FIRST] = n
    fen_cnt = np.zeros(n + 1, np.int64)
    fen_sum = np.zeros(n + 1, np.int64)
    parent = np.arange(n + 1)
    size = _tree_size(n_ev)
    tp_tree = np.zeros(2 * size)
    fn_tree = np.zeros(2 * size)
    for k in range(n_ev):
        _tree_set(fn_tree, k, float(geo[k, 1] - geo[k, 0] + 1))
    dirty = np.empty(max(n_ev, 1), np.int64)
    prec = np.empty(cuts.shape[0])
    rec = np.empty(cuts.shape[0])
    done = 0
    for j in range(cuts.shape[0]):
        n_dirty = 0
        while done < cuts[j]:
            n_dirty = _add_point(order[done], zone, st, dirty, n_dirty, parent, fen_cnt, fen_sum)
            done += 1
        for i in range(n_dirty):
            k = dirty[i]
            st[k, _DIRTY] = 0
            _tree_set(tp_tree, k, _event_tp(geo[k], st[k]))
            _tree_set(fn_tree, k, _event_fn(geo[k], st[k], parent, fen_cnt, fen_sum))
        prec[j], rec[j] = _ratios(tp_tree[1], fn_tree[1], done)
    return prec, rec


@njit(cache=True)
def _pr_area(prec: FloatArray, rec: FloatArray) -> float:
    """Trapezoid area under (recall, precision), starting at (0, 1), skipping recall drops."""
    last_r = 0.0
    last_p = 1.0
    area = 0.0
    for j in range(rec.shape[0]):
        if rec[j] >= last_r:
            area += (rec[j] - last_r) * (prec[j] + last_p) / 2.0
            last_r = rec[j]
            last_p = prec[j]
    return area


# --------------------------------------------------------------------------- numpy helpers


def _events(labels: IntArray) -> tuple[IntArray, IntArray]:
    """Start and end (inclusive) of every maximal run of 1s."""
    edges = np.diff(np.concatenate(([0], labels, [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _geometry(starts: IntArray, ends: IntArray, n: int, e: int, d: int) -> IntArray:
    """Per event ``[s, t, pre_start, post_end]``; a shared gap goes to the earlier post-buffer."""
    next_start = np.concatenate((starts[1:], [n]))
    post_end = np.minimum(ends + d, next_start - 1)
    prev_post_end = np.concatenate(([-1], post_end[:-1]))
    pre_start = np.maximum(np.maximum(starts - e, 0), prev_post_end + 1)
    return np.ascontiguousarray(np.stack((starts, ends, pre_start, post_end), axis=1), np.int64)


def _buffer_points(max_size: int, splits: int, include_zero: bool) -> IntArray:
    """Buffer sizes tried for one side, exactly as the reference spaces them."""
    if include_zero:
        return np.linspace(0, max_size, splits + 1, dtype=int)
    return np.linspace(max_size / splits, max_size, splits, dtype=int)


def _buffer_pairs(e: int, d: int, splits: int, include_zero: bool) -> list[tuple[int, int]]:
    """Every (early, delayed) buffer pair; PATE is the plain mean over them."""
    early = _buffer_points(e, splits, include_zero)
    delayed = _buffer_points(d, splits, include_zero)
    return [(int(a), int(b)) for a in early for b in delayed]


def _threshold_cuts(
    labels: IntArray, scores: FloatArray, big_data: bool, num_thresholds: int
) -> tuple[IntArray, IntArray]:
    """Points in descending score order, and how many are predicted at each threshold.

    Thresholds follow scikit-learn's ``_binary_clf_curve`` (distinct scores, descending), keep
    the first, the last and those where the true-positive count changes on either side, and
    with ``big_data`` are replaced by ``num_thresholds`` interpolated percentiles of those.
    """
    n = scores.shape[0]
    order = np.argsort(scores, kind="mergesort")[::-1]
    desc = scores[order]
    last = np.concatenate((np.flatnonzero(np.diff(desc)), [n - 1]))
    tps = np.cumsum(labels[order])[last]
    if tps.shape[0] > 2:
        keep = np.concatenate(([True], (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), [True]))
        last = last[keep]
    if big_data:
        thresholds = np.percentile(desc[last], np.linspace(100, 0, num_thresholds))
        cuts = n - np.searchsorted(desc[::-1], thresholds, side="left")
    else:
        cuts = last + 1
    return np.ascontiguousarray(order, np.int64), np.ascontiguousarray(cuts, np.int64)


def _check_flag(value: object, name: str) -> bool:
    """Validate a boolean option."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"`{name}` must be a bool (True or False). Got {value!r} instead.")
    return bool(value)


def _check_buffers(
    e_buffer: object, d_buffer: object, buffer_splits: object, include_zero: object
) -> list[tuple[int, int]]:
    """Validate the buffer options and return the (early, delayed) pairs to average over."""
    e = check_int(e_buffer, "e_buffer", minimum=0)
    d = check_int(d_buffer, "d_buffer", minimum=0)
    splits = check_int(buffer_splits, "buffer_splits", minimum=1)
    return _buffer_pairs(e, d, splits, _check_flag(include_zero, "include_zero"))


# --------------------------------------------------------------------------- public API


def pate(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    e_buffer: int = 100,
    d_buffer: int = 100,
    big_data: bool = True,
    num_thresholds: int = 250,
    buffer_splits: int = 1,
    include_zero: bool = True,
) -> float:
    """PATE of continuous anomaly scores (higher = more anomalous), in [0, 1].

    The area under PATE's proximity-weighted precision/recall curve, averaged over the buffer
    grid: sizes ``linspace(0, e_buffer, buffer_splits + 1)`` (without 0 when ``include_zero`` is
    False) for the early buffer, likewise for the delayed one, every combination. With
    ``big_data`` the curve uses ``num_thresholds`` percentile thresholds, otherwise every useful
    distinct score. Equals PyPI ``PATE(labels, scores, e_buffer, d_buffer, Big_Data=big_data,
    num_desired_thresholds=num_thresholds, num_splits_MaxBuffer=buffer_splits,
    include_zero=include_zero)``; 0.0 when there is no anomaly.
    """
    lab = check_labels(labels)
    sc = check_scores(scores, lab.shape[0])
    pairs = _check_buffers(e_buffer, d_buffer, buffer_splits, include_zero)
    num = check_int(num_thresholds, "num_thresholds", minimum=2)
    order, cuts = _threshold_cuts(lab, sc, _check_flag(big_data, "big_data"), num)
    starts, ends = _events(lab)
    n = lab.shape[0]
    areas = [_pr_area(*_sweep(order, cuts, _geometry(starts, ends, n, e, d), n)) for e, d in pairs]
    return float(np.mean(areas))


def pate_f1(
    labels: npt.ArrayLike,
    predictions: npt.ArrayLike,
    *,
    e_buffer: int = 100,
    d_buffer: int = 100,
    buffer_splits: int = 1,
    include_zero: bool = True,
) -> float:
    """PATE-F1 of a binary prediction (a point is predicted anomalous when its value is > 0).

    The F1 of PATE's proximity-weighted precision and recall, averaged over the same buffer grid
    as :func:`pate`. Equals PyPI ``PATE(..., binary_scores=True)``.
    """
    lab = check_labels(labels)
    pred = check_scores(predictions, lab.shape[0], name="predictions")
    pairs = _check_buffers(e_buffer, d_buffer, buffer_splits, include_zero)
    order = np.flatnonzero(pred > 0).astype(np.int64)
    cuts = np.array([order.shape[0]], np.int64)
    starts, ends = _events(lab)
    n = lab.shape[0]
    f1s = []
    for e, d in pairs:
        prec, rec = _sweep(order, cuts, _geometry(starts, ends, n, e, d), n)
        p, r = float(prec[0]), float(rec[0])
        f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean(f1s))
