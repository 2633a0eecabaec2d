"""Alerts that end when the anomaly ends: a window's echo of an anomaly does not alert again.

A window detector scores the window that ends at each point, so one anomalous point keeps
every window that holds it anomalous for a whole window length after it: 64 points after a
one-point spike for a 64-point window, a day for a period-long one. Left alone, that *echo*
turns a spike into hours of alerts, alarms on normal points after every event, and makes an
incident look like a lasting change (its run of alerts outlasts the refit period).

Rule, per point ``t`` with calibrated score ``c(t)`` (``anomaly_score`` before this step) and
model window ``w`` (``Detector.echo_window``: context length + 1 for a window detector):

* points with ``c >= 1`` less than ``ECHO_GAP`` points apart form a *run*;
* inside a run, a point alerts only when it raises the run's peak (new evidence entered the
  window) or when the run has lasted ``SUSTAIN * w`` points (the anomaly outlasts every window
  that saw its start: it is the newest points, not an echo);
* any other point of a run is published at the line, ``anomaly_score = 1.0`` (not an alert).

A spike then alerts at its start and once more if a later window scores it higher; a level
shift alerts while its windows fill (its score rises) and again from ``SUSTAIN * w`` points
on, until the model accepts the new level. Since the published scores tell alert (``> 1``),
echo (``== 1``) and quiet (``< 1``) apart, the state after any point is read back from the
published scores (:func:`echo_after`): a restart and a replay continue exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

ECHO_GAP = 12
"""Points at or above the line at most this many points apart belong to one run."""
SUSTAIN = 2
"""A run that has lasted this many model windows alerts on every point above the line."""


@dataclass
class Echo:
    """Where the current run stands after the points scored so far.

    ``start`` and ``last``: index of the run's first point and of its last point at or above
    the line (-1: no run yet); ``peak``: the highest ``anomaly_score`` the run has alerted
    with."""

    start: int = -1
    last: int = -1
    peak: float = -np.inf


def suppress_echo(cal: FloatArray, first: int, window: int, echo: Echo) -> tuple[FloatArray, Echo]:
    """``anomaly_score`` of points ``first .. first + len(cal) - 1`` from their calibrated
    scores ``cal`` (ndarray of shape (n_points,), NaN: not scored), for a model whose window
    is ``window`` points, after the state ``echo``. Returns the scores and the new state
    (``echo`` itself is not changed)."""
    out = np.array(cal, dtype=np.float64)
    start, last, peak = echo.start, echo.last, echo.peak
    for i, c in enumerate(out.tolist()):
        t = first + i
        if not c >= 1.0:
            continue
        if last < 0 or t - last > ECHO_GAP:
            start, peak = t, -np.inf
        last = t
        if c > peak or t - start >= SUSTAIN * window:
            peak = max(peak, c)
        else:
            out[i] = 1.0
    return out, Echo(start, last, peak)


def echo_after(scores: FloatArray, end: int) -> Echo:
    """The state after the published ``anomaly_score`` of the points before index ``end``,
    given the last ``len(scores)`` of them (ndarray of shape (n_points,)). Exact when they
    are all the points before ``end`` or at least ``SUSTAIN * window + ECHO_GAP`` of them: a
    run that began earlier has lasted ``SUSTAIN * window`` points either way."""
    above = np.flatnonzero(np.nan_to_num(scores, nan=0.0) >= 1.0)
    if not len(above) or len(scores) - 1 - above[-1] > ECHO_GAP:
        return Echo()
    cut = np.flatnonzero(np.diff(above) > ECHO_GAP)
    first = int(above[cut[-1] + 1]) if len(cut) else int(above[0])
    offset = end - len(scores)
    return Echo(
        first + offset, int(above[-1]) + offset, float(np.max(scores[above[above >= first]]))
    )
