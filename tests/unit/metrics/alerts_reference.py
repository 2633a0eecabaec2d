"""Slow, literal reference for ``anomalyd.metrics.alert_metrics``: the definitions as plain loops.

Every point looks at every labelled point to decide whether it is far; every event is found by
walking the labels and scans its own tolerance span for an alarm. Cost ``O(n^2)``: small inputs.
"""

from __future__ import annotations

import math


def alert_metrics_loop(labels: list[int], alarms: list[bool], window: int) -> dict[str, float]:
    """The four alert metrics, each computed straight from its definition."""
    n = len(labels)
    labelled = [j for j in range(n) if labels[j] == 1]
    far = [i for i in range(n) if all(abs(i - j) > window for j in labelled)]
    normal = [i for i in range(n) if labels[i] == 0]
    events = _events(labels)
    detected = [any(alarms[i] for i in range(s, min(e + window, n - 1) + 1)) for s, e in events]
    return {
        "false_alarm_rate": _share([alarms[i] for i in far]),
        "event_recall": _share(detected),
        "alerts_per_1000": 1000 * _share([alarms[i] for i in normal]),
        "n_events": len(events),
    }


def _events(labels: list[int]) -> list[tuple[int, int]]:
    """Inclusive (start, end) of every maximal run of 1s."""
    events = []
    start = None
    for i, label in enumerate([*labels, 0]):
        if label == 1 and start is None:
            start = i
        elif label == 0 and start is not None:
            events.append((start, i - 1))
            start = None
    return events


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else math.nan


def band_precision_loop(
    labels: list[int], scores: list[float], window: int, edges: tuple[float, ...]
) -> dict[str, list[int]]:
    """Alarms per band and the real ones, point by point."""
    labelled = [j for j in range(len(labels)) if labels[j] == 1]
    alarms, real = [0] * len(edges), [0] * len(edges)
    for i, s in enumerate(scores):
        for b, lo in enumerate(edges):
            hi = edges[b + 1] if b + 1 < len(edges) else math.inf
            if s == s and lo < s <= hi:  # s == s: not NaN
                alarms[b] += 1
                real[b] += any(abs(i - j) <= window for j in labelled)
    return {"band_alarms": alarms, "band_real": real}
