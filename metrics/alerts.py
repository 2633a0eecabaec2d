"""Alert quality: how the calibrated alarms of a detector would page an on-call engineer.

Ranking metrics (VUS-PR, PATE) judge the raw scores over every threshold; these judge the one
threshold the service alerts on (``anomaly_score > 1``), as the person receiving the alerts
sees it. ``alarms`` are booleans per point, ``labels`` 0/1 per point, and ``window`` is the same
tolerance (in points) that VUS uses, so an alarm shortly before or after an event is not
counted as false.

* ``false_alarm_rate``: share of *far* normal points that raise an alarm; a far normal point is
  labelled 0 and lies more than ``window`` points from every labelled point. Compare it with
  the calibration's target rate (0.5% of points by default). ``nan`` when there is none.
* ``event_recall``: share of events (maximal runs of 1s) with an alarm inside the event or in
  the ``window`` points after its last point. ``nan`` when there is no event.
* ``alerts_per_1000``: alarms per 1,000 normal points (label 0), near an event or not: the
  alert volume of a normal stretch. ``nan`` when every point is labelled 1.
* ``n_events``: the number of events.

``constant_scores`` flags a dead model: one whose scores do not move. PATE of such scores is
about 0.5, so averaged into a table a dead model looks mediocre rather than broken.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from anomalyd.metrics._validation import IntArray, check_flags, check_int, check_labels

__all__ = ["alert_metrics", "band_precision", "constant_scores", "SEVERITY_EDGES"]

SEVERITY_EDGES = (1.0, 2.0, 3.0)
"""Lower edges of the severity bands of ``anomaly_score``: (1, 2] warning, (2, 3], > 3."""

BoolArray = npt.NDArray[np.bool_]


def alert_metrics(labels: npt.ArrayLike, alarms: npt.ArrayLike, *, window: int) -> dict[str, float]:
    """Return the alert-quality metrics of binary ``alarms`` against ``labels``.

    Parameters
    ----------
    labels : array of shape (n,), 0/1 per point (1 = anomalous).
    alarms : array of shape (n,), bool or 0/1 per point (True = the detector alerts there,
        ``anomaly_score > 1`` in the service).
    window : int >= 0, tolerance in points (the VUS window): normal points within ``window``
        points of a labelled point are not counted by ``false_alarm_rate``, and an alarm up to
        ``window`` points after an event still detects it.

    Returns
    -------
    dict with ``false_alarm_rate`` (fraction in [0, 1] or ``nan``), ``event_recall`` (fraction
    in [0, 1] or ``nan``), ``alerts_per_1000`` (alarms per 1,000 normal points, or ``nan``) and
    ``n_events`` (int); see the module docstring.

    Raises
    ------
    ValueError
        When ``labels`` is not a non-empty 1-D array of 0/1, ``alarms`` is not a 1-D array of
        bool or 0/1 of the same length, or ``window`` is not an int >= 0.
    """
    lab = check_labels(labels)
    alarm = check_flags(alarms, lab.shape[0], name="alarms")
    win = check_int(window, "window", minimum=0)
    starts, ends = _events(lab)
    return {
        "false_alarm_rate": _rate(alarm[_distance_to_label(lab) > win]),
        "event_recall": _event_recall(alarm, starts, ends, win),
        "alerts_per_1000": 1000.0 * _rate(alarm[lab == 0]),
        "n_events": int(starts.shape[0]),
    }


def band_precision(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    window: int,
    edges: tuple[float, ...] = SEVERITY_EDGES,
) -> dict[str, list[int]]:
    """Alarms per severity band, and how many of them are real (on or within ``window`` points
    of a labelled point): the counts behind precision per band (multilevel anomaly detection:
    a higher band should more often be a real anomaly).

    ``scores`` has shape (n,) (``anomaly_score``; NaN counts as no alarm); band ``i`` holds the
    points with ``edges[i] < score <= edges[i + 1]`` (the last band is open). Returns
    ``{"band_alarms": [...], "band_real": [...]}``, one int per band. Raises ValueError like
    :func:`alert_metrics`.
    """
    lab = check_labels(labels)
    sc = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    if sc.shape != lab.shape:
        raise ValueError(f"`scores` must have shape {lab.shape}. Got {sc.shape} instead.")
    near = _distance_to_label(lab) <= check_int(window, "window", minimum=0)
    uppers = (*edges[1:], np.inf)
    bands = [(sc > lo) & (sc <= hi) for lo, hi in zip(edges, uppers, strict=True)]
    return {
        "band_alarms": [int(b.sum()) for b in bands],
        "band_real": [int((b & near).sum()) for b in bands],
    }


def constant_scores(scores: npt.ArrayLike, *, rtol: float = 1e-9) -> bool:
    """Whether the finite values of ``scores`` are all equal: a model whose output is dead.

    ``scores`` is a 1-D numeric array (one score per point, NaN/inf allowed and ignored, e.g.
    the warm-up points). The scores are constant when their range is at most ``rtol`` times
    their largest magnitude, or when no score is finite. ``rtol`` is a float >= 0.

    Raises ``ValueError`` when ``scores`` is not 1-D numeric or ``rtol`` is not a finite
    number >= 0.
    """
    arr = np.asarray(scores)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise ValueError(
            "`scores` must be a 1-D numeric array with one score per point. "
            f"Got an array of shape {arr.shape} and dtype {arr.dtype} instead."
        )
    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not 0 <= rtol < math.inf:
        raise ValueError(f"`rtol` must be a finite float >= 0. Got {rtol!r} instead.")
    finite = arr[np.isfinite(arr)].astype(np.float64)
    if finite.size == 0:
        return True
    spread = float(finite.max() - finite.min())
    return spread <= rtol * float(np.abs(finite).max())


def _events(labels: IntArray) -> tuple[IntArray, IntArray]:
    """Inclusive start and end index of every maximal run of 1s."""
    edges = np.diff(np.concatenate(([0], labels, [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _distance_to_label(labels: IntArray) -> npt.NDArray[np.float64]:
    """Points from each index to the nearest labelled point (``inf`` when there is none)."""
    idx = np.arange(labels.shape[0], dtype=np.float64)
    prev = np.maximum.accumulate(np.where(labels == 1, idx, -np.inf))
    nxt = np.minimum.accumulate(np.where(labels == 1, idx, np.inf)[::-1])[::-1]
    return np.minimum(idx - prev, nxt - idx)


def _event_recall(alarms: BoolArray, starts: IntArray, ends: IntArray, window: int) -> float:
    """Share of events with an alarm in ``[start, end + window]`` (clipped to the series)."""
    if starts.size == 0:
        return math.nan
    counts = np.concatenate(([0], np.cumsum(alarms)))
    stop = np.minimum(ends + window, alarms.shape[0] - 1) + 1
    return float(np.mean(counts[stop] - counts[starts] > 0))


def _rate(flags: BoolArray) -> float:
    """Mean of ``flags``; ``nan`` when empty."""
    return float(flags.mean()) if flags.size else math.nan
