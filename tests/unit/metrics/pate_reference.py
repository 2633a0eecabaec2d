"""Slow, literal PATE used to test the fast one (and as the baseline of the speed benchmark).

Plain Python, written straight from the definition: for every threshold build the binary
prediction, give every predicted point its zone (event, pre-buffer, post-buffer or outside) and
its weight from summed distances, then weigh the missed points of every event. Nothing is
incremental and nothing is vectorised, so it is easy to check by reading, and slow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import auc


def events_of(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, end) pairs, end inclusive."""
    runs: list[tuple[int, int]] = []
    for i, flag in enumerate(flags):
        if flag and runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        elif flag:
            runs.append((i, i))
    return runs


def zones_of(events: list[tuple[int, int]], n: int, e: int, d: int) -> list[tuple[int, int]]:
    """(pre_start, post_end) per event: the earlier event's post-buffer takes a shared gap."""
    zones: list[tuple[int, int]] = []
    prev_post_end = -1
    for k, (s, t) in enumerate(events):
        next_start = events[k + 1][0] if k + 1 < len(events) else n
        post_end = min(t + d, next_start - 1)
        zones.append((max(0, s - e, prev_post_end + 1), post_end))
        prev_post_end = post_end
    return zones


def buffer_weight(x: int, event: tuple[int, int], far_edge: int) -> float:
    """1 - (total distance of x to the event) / (total distance of the buffer's far edge)."""
    points = range(event[0], event[1] + 1)
    return 1 - sum(abs(x - y) for y in points) / sum(abs(far_edge - y) for y in points)


def missed_weight(x: int, event: tuple[int, int], first_run: int) -> float:
    """FN weight of a missed point x of a partly detected event."""
    s, t = event
    onset_end = s + first_run
    if x <= onset_end:
        return 1.0
    worst = sum(t - y for y in range(s, t + 1))
    return 1 - sum(x - y for y in range(s, onset_end + 1)) / worst


def event_false_negatives(pred: Sequence[bool], event: tuple[int, int]) -> float:
    """Weighted misses of one event, from its first detected run."""
    s, t = event
    hits = [x for x in range(s, t + 1) if pred[x]]
    if not hits:
        return float(t - s + 1)
    run_end = hits[0]
    while run_end + 1 <= t and pred[run_end + 1]:
        run_end += 1
    first_run = run_end - hits[0] + 1
    return sum(missed_weight(x, event, first_run) for x in range(s, t + 1) if not pred[x])


def precision_recall(
    pred: Sequence[bool], labels: Sequence[int], e: int, d: int
) -> tuple[float, float]:
    """PATE precision and recall of one binary prediction for buffers (e, d)."""
    events = events_of([lab == 1 for lab in labels])
    zones = zones_of(events, len(labels), e, d)
    detected = [any(pred[s : t + 1]) for s, t in events]
    tp = fp = 0.0
    for x, predicted in enumerate(pred):
        if not predicted:
            continue
        credit = 0.0  # share of this point that is a true positive; the rest is a false positive
        for k, ((s, t), (pre_start, post_end)) in enumerate(zip(events, zones, strict=True)):
            if s <= x <= t:
                credit = 1.0
            elif t < x <= post_end:
                credit = buffer_weight(x, (s, t), post_end)
            elif pre_start <= x < s and detected[k]:
                credit = buffer_weight(x, (s, t), pre_start)
        tp += credit
        fp += 1 - credit
    fn = sum(event_false_negatives(pred, ev) for ev in events)
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    return precision, recall


def thresholds_of(
    labels: Sequence[int], scores: Sequence[float], big_data: bool, num_thresholds: int
) -> list[float]:
    """Distinct scores (descending) where the count of labelled points at or above changes."""
    ranked = sorted(zip(scores, labels, strict=True), key=lambda p: -p[0])
    values: list[float] = []
    tps: list[int] = []
    positives = 0
    for i, (score, label) in enumerate(ranked):
        positives += label
        if i + 1 == len(ranked) or ranked[i + 1][0] != score:
            values.append(score)
            tps.append(positives)
    last = len(values) - 1
    kept = [
        v
        for i, v in enumerate(values)
        if len(values) <= 2 or i in (0, last) or tps[i] != tps[i - 1] or tps[i + 1] != tps[i]
    ]
    if big_data:
        return [float(v) for v in np.percentile(kept, np.linspace(100, 0, num_thresholds))]
    return kept


def buffer_sizes(max_size: int, splits: int, include_zero: bool) -> list[int]:
    """Buffer sizes for one side."""
    if include_zero:
        return [int(v) for v in np.linspace(0, max_size, splits + 1, dtype=int)]
    return [int(v) for v in np.linspace(max_size / splits, max_size, splits, dtype=int)]


def curve_area(points: list[tuple[float, float]]) -> float:
    """Area under (recall, precision) from (0, 1), dropping points whose recall went down."""
    kept_r, kept_p = [0.0], [1.0]
    for p, r in points:
        if r >= kept_r[-1]:
            kept_r.append(r)
            kept_p.append(p)
    return float(auc(kept_r, kept_p))


def slow_pate(
    labels: Sequence[int],
    scores: Sequence[float],
    *,
    e_buffer: int = 100,
    d_buffer: int = 100,
    big_data: bool = True,
    num_thresholds: int = 250,
    buffer_splits: int = 1,
    include_zero: bool = True,
) -> float:
    """PATE of continuous scores, computed literally (one full pass per threshold)."""
    labels = [int(v) for v in labels]
    scores = [float(v) for v in scores]
    thresholds = thresholds_of(labels, scores, big_data, num_thresholds)
    preds = [[v >= thr for v in scores] for thr in thresholds]
    areas = [
        curve_area([precision_recall(pred, labels, e, d) for pred in preds])
        for e in buffer_sizes(e_buffer, buffer_splits, include_zero)
        for d in buffer_sizes(d_buffer, buffer_splits, include_zero)
    ]
    return float(np.mean(areas))


def slow_pate_f1(
    labels: Sequence[int],
    predictions: Sequence[float],
    *,
    e_buffer: int = 100,
    d_buffer: int = 100,
    buffer_splits: int = 1,
    include_zero: bool = True,
) -> float:
    """PATE-F1 of a binary prediction (value > 0), computed literally."""
    labels = [int(v) for v in labels]
    pred = [float(v) > 0 for v in predictions]
    f1s = []
    for e in buffer_sizes(e_buffer, buffer_splits, include_zero):
        for d in buffer_sizes(d_buffer, buffer_splits, include_zero):
            p, r = precision_recall(pred, labels, e, d)
            f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean(f1s))
