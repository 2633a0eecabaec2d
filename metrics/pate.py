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
the points in descending score order, O(n log n) in all (the sort). Points outside every zone at
the largest buffers are false positives for every pair and are only counted. Per event the sweep
keeps counts and position sums of its predicted points per zone, its first hit and the end of the
first predicted run (union-find over event points), from which its weighted TP and FN follow in
closed form; the totals are double-double sums of per-event changes, so they do not drift and a
step that changes nothing leaves precision and recall bit-identical (the curve keeps a point only
when recall did not go down, compared exactly, as the reference does).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.metrics._validation import FloatArray, IntArray, check_int, check_labels, check_scores

__all__ = ["pate", "pate_f1"]

# Zone codes: zone[x] = 4 * event + kind, kind 0 meaning "outside every buffer".
_OUT, _PRE, _IN, _POST = 0, 1, 2, 3
# Columns of the per-event state: geometry, then what the sweep has predicted so far.
_S, _T, _PRE_START, _POST_END, _OFFSET = range(5)
_COV, _HIT_SUM, _FIRST, _RUN_END = range(5, 9)
_PRE_CNT, _PRE_SUM, _POST_CNT, _POST_SUM, _DIRTY = range(9, 14)
_N_STATE = 14


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True)
def _zone_map(geo: IntArray, n: int) -> npt.NDArray[np.bool_]:
    """Which positions lie in some event's zone (pre-buffer, event or post-buffer)."""
    inside = np.zeros(n, np.bool_)
    for k in range(geo.shape[0]):
        inside[geo[k, 2] : geo[k, 3] + 1] = True
    return inside


@njit(cache=True)
def _zone_codes(near: IntArray, geo: IntArray) -> IntArray:
    """``4 * event + kind`` for each position of ``near`` (ascending); 0 when in no zone."""
    codes = np.zeros(near.shape[0], np.int64)
    k = 0
    for i in range(near.shape[0]):
        x = near[i]
        while k < geo.shape[0] and geo[k, 3] < x:
            k += 1
        if k == geo.shape[0] or x < geo[k, 2]:
            continue
        if x < geo[k, 0]:
            codes[i] = 4 * k + _PRE
        else:
            codes[i] = 4 * k + (_IN if x <= geo[k, 1] else _POST)
    return codes


@njit(cache=True)
def _find(parent: IntArray, i: int) -> int:
    """First compact index >= i whose point is not predicted (union-find, path halving)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _acc_add(acc: FloatArray, j: int, value: float) -> None:
    """Add ``value`` to the double-double ``acc[j] + acc[j + 1]`` (TwoSum, then renormalise).

    Exact to ~1e-32 relative, so totals do not drift over millions of updates, and adding an
    exact 0 leaves them bit-identical.
    """
    hi = acc[j]
    s = hi + value
    bp = s - hi
    lo = acc[j + 1] + ((hi - (s - bp)) + (value - bp))
    acc[j] = s + lo
    acc[j + 1] = lo - (acc[j] - s)


@njit(cache=True)
def _partial_fn(s: int, t: int, first: int, run_end: int, cov: int, hit_sum: int) -> float:
    """Weighted misses of a partly detected event; its first detected run is [first, run_end].

    With ``delta`` the run's length and ``B = s + delta``, a missed point ``x <= B`` counts 1 and
    a missed ``x > B`` counts ``1 - (delta + 1) * (x - (s + B) / 2) / (L (L - 1) / 2)``. Nothing
    before ``first`` is predicted and the run reaches ``B - 1``, so the hits in ``[s, B]`` are
    exactly ``[first, min(run_end, B)]``.
    """
    length = t - s + 1
    delta = run_end - first + 1
    b = s + delta
    hi = min(b, t)
    top = min(run_end, hi)
    hits_le = top - first + 1 if first <= hi else 0
    miss_le = (hi - s + 1) - hits_le
    if b >= t:
        return float(miss_le)
    miss_gt = (t - b) - (cov - hits_le)
    sum_gt = (b + 1 + t) * (t - b) // 2 - (hit_sum - (first + top) * hits_le // 2)
    spread = 2 * sum_gt - miss_gt * (s + b)
    return miss_le + miss_gt - float(delta + 1) * float(spread) / float(length * (length - 1))


@njit(cache=True)
def _event_tp(ev: IntArray, k: int) -> float:
    """Weighted true positives of event k: its hits plus its buffer credits."""
    s, t, pre_start, post_end = ev[k, _S], ev[k, _T], ev[k, _PRE_START], ev[k, _POST_END]
    tp = float(ev[k, _COV])
    if ev[k, _POST_CNT] > 0:
        num = ev[k, _POST_CNT] * post_end - ev[k, _POST_SUM]
        tp += 2.0 * num / (2 * post_end - s - t)
    if ev[k, _COV] > 0 and ev[k, _PRE_CNT] > 0:
        num = ev[k, _PRE_SUM] - ev[k, _PRE_CNT] * pre_start
        tp += 2.0 * num / (s + t - 2 * pre_start)
    return tp


@njit(cache=True)
def _event_fn(ev: IntArray, k: int) -> float:
    """Weighted false negatives of event k (missed in full, detected in full, or partly)."""
    s, t, cov = ev[k, _S], ev[k, _T], ev[k, _COV]
    if cov == 0:
        return float(t - s + 1)
    if cov == t - s + 1:
        return 0.0
    return _partial_fn(s, t, ev[k, _FIRST], ev[k, _RUN_END], cov, ev[k, _HIT_SUM])


@njit(cache=True)
def _add_hit(x: int, ev: IntArray, k: int, parent: IntArray) -> None:
    """Record a predicted point x inside event k, keeping its first detected run current."""
    i = ev[k, _OFFSET] + x - ev[k, _S]
    parent[i] = i + 1
    if ev[k, _COV] == 0 or x < ev[k, _FIRST] - 1:
        ev[k, _FIRST] = x
        ev[k, _RUN_END] = x
    elif x == ev[k, _FIRST] - 1:
        ev[k, _FIRST] = x
    elif x == ev[k, _RUN_END] + 1:
        stop = _find(parent, i) - ev[k, _OFFSET] + ev[k, _S]
        ev[k, _RUN_END] = min(stop, ev[k, _T] + 1) - 1
    ev[k, _COV] += 1
    ev[k, _HIT_SUM] += x


@njit(cache=True)
def _add_point(x: int, code: int, ev: IntArray, parent: IntArray) -> int:
    """Mark point ``x`` (zone ``code``) as predicted; return its event if newly dirty, else -1."""
    kind = code & 3
    if kind == _OUT:
        return -1
    k = code >> 2
    if kind == _PRE:
        ev[k, _PRE_CNT] += 1
        ev[k, _PRE_SUM] += x
    elif kind == _POST:
        ev[k, _POST_CNT] += 1
        ev[k, _POST_SUM] += x
    else:
        _add_hit(x, ev, k, parent)
    if ev[k, _DIRTY] == 1:
        return -1
    ev[k, _DIRTY] = 1
    return k


@njit(cache=True)
def _refresh(
    dirty: IntArray, n_dirty: int, ev: IntArray, vals: FloatArray, acc: FloatArray
) -> None:
    """Recompute the changed events' TP and FN and move the totals by the differences."""
    for j in range(n_dirty):
        k = dirty[j]
        ev[k, _DIRTY] = 0
        tp = _event_tp(ev, k)
        fn = _event_fn(ev, k)
        _acc_add(acc, 0, tp - vals[k, 0])
        _acc_add(acc, 2, fn - vals[k, 1])
        vals[k, 0] = tp
        vals[k, 1] = fn


@njit(cache=True)
def _new_state(geo: IntArray) -> tuple[IntArray, FloatArray, FloatArray, IntArray]:
    """Per-event state, per-event (TP, FN), the (TP, FN) totals and the union-find array."""
    n_ev = geo.shape[0]
    ev = np.zeros((n_ev, _N_STATE), np.int64)
    ev[:, :4] = geo
    lengths = geo[:, 1] - geo[:, 0] + 1
    ev[1:, _OFFSET] = np.cumsum(lengths)[:-1]
    vals = np.zeros((n_ev, 2))
    vals[:, 1] = lengths
    acc = np.zeros(4)
    for k in range(n_ev):
        _acc_add(acc, 2, vals[k, 1])
    return ev, vals, acc, np.arange(lengths.sum() + 1)


@njit(cache=True)
def _sweep(
    near: IntArray, rank: IntArray, cuts: IntArray, n_pred: IntArray, geo: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Precision and recall for every threshold j of one buffer pair.

    ``near`` holds the points near an event (ascending) and ``rank`` orders them by descending
    score; at threshold j the first ``cuts[j]`` of those and ``n_pred[j]`` points in all are
    predicted. Every predicted point carries TP + FP = 1, so precision is TP / n_pred.
    """
    codes = _zone_codes(near, geo)
    ev, vals, acc, parent = _new_state(geo)
    dirty = np.empty(geo.shape[0] + 1, np.int64)
    prec = np.zeros(cuts.shape[0])
    rec = np.zeros(cuts.shape[0])
    done = 0
    for j in range(cuts.shape[0]):
        n_dirty = 0
        while done < cuts[j]:
            i = rank[done]
            dirty[n_dirty] = _add_point(near[i], codes[i], ev, parent)
            n_dirty += dirty[n_dirty] >= 0
            done += 1
        _refresh(dirty, n_dirty, ev, vals, acc)
        tp = acc[0] + acc[1]
        fn = acc[2] + acc[3]
        if n_pred[j] > 0:
            prec[j] = tp / n_pred[j]
        if tp + fn > 0:
            rec[j] = tp / (tp + fn)
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


def _thresholds(
    labels: IntArray, scores: FloatArray, big_data: bool, num_thresholds: int
) -> tuple[FloatArray, IntArray]:
    """Descending thresholds, and how many points score at or above each.

    Thresholds follow scikit-learn's ``_binary_clf_curve`` (distinct scores, descending), keep
    the first, the last and those where the count of labelled points at or above changes on
    either side, and with ``big_data`` become ``num_thresholds`` interpolated percentiles.
    """
    asc = np.sort(scores)
    distinct = asc[np.concatenate(([0], np.flatnonzero(np.diff(asc)) + 1))]
    positives = np.sort(scores[labels == 1])
    values = distinct[::-1]
    tps = (positives.shape[0] - np.searchsorted(positives, distinct, side="left"))[::-1]
    if tps.shape[0] > 2:
        keep = np.concatenate(([True], (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), [True]))
        values = values[keep]
    if big_data:
        values = np.percentile(values[::-1], np.linspace(100, 0, num_thresholds))
    n_pred = asc.shape[0] - np.searchsorted(asc, values, side="left")
    return values, np.ascontiguousarray(n_pred, np.int64)


def _near_events(starts: IntArray, ends: IntArray, n: int, e: int, d: int) -> IntArray:
    """Points inside some event's zone at the largest buffers (e, d).

    The union of all zones only grows with the buffers (a shared gap merely passes from one
    event's pre-buffer to the previous event's post-buffer), so a point outside it is outside
    for every smaller pair, where it only counts as a false positive: no sweep visits it.
    """
    return np.flatnonzero(_zone_map(_geometry(starts, ends, n, e, d), n))


def _sweep_order(
    near: IntArray, scores: FloatArray, thresholds: FloatArray
) -> tuple[IntArray, IntArray]:
    """Indices into ``near`` by descending score, and how many score >= each threshold."""
    sub = scores[near]
    asc = np.argsort(sub)
    cuts = near.shape[0] - np.searchsorted(sub[asc], thresholds, side="left")
    return np.ascontiguousarray(asc[::-1], np.int64), np.ascontiguousarray(cuts, np.int64)


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
    thresholds, n_pred = _thresholds(lab, sc, _check_flag(big_data, "big_data"), num)
    n = lab.shape[0]
    starts, ends = _events(lab)
    near = _near_events(starts, ends, n, max(e for e, _ in pairs), max(d for _, d in pairs))
    rank, cuts = _sweep_order(near, sc, thresholds)
    areas = [
        _pr_area(*_sweep(near, rank, cuts, n_pred, _geometry(starts, ends, n, e, d)))
        for e, d in pairs
    ]
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
    pred = check_scores(predictions, lab.shape[0], name="predictions") > 0
    pairs = _check_buffers(e_buffer, d_buffer, buffer_splits, include_zero)
    n = lab.shape[0]
    starts, ends = _events(lab)
    near = _near_events(starts, ends, n, max(e for e, _ in pairs), max(d for _, d in pairs))
    rank = np.flatnonzero(pred[near])
    cuts = np.array([rank.shape[0]], np.int64)
    n_pred = np.array([np.count_nonzero(pred)], np.int64)
    f1s = []
    for e, d in pairs:
        prec, rec = _sweep(near, rank, cuts, n_pred, _geometry(starts, ends, n, e, d))
        p, r = float(prec[0]), float(rec[0])
        f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean(f1s))
