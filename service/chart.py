"""What a chart of one series needs: points thinned to the screen, and alert runs at full
resolution.

A browser draws a million points slowly and a screen shows about two per pixel, so the
dashboard asks for a time range and a number of points, and gets the points MinMaxLTTB
(``tsdownsample``; Van Der Donckt et al., "MinMaxLTTB: Leveraging MinMax-Preselection to Scale
LTTB", 2023) keeps for the values of each channel and for the score, merged. Alert runs are
found on every point of the range, so thinning never hides one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from tsdownsample import NaNMinMaxLTTBDownsampler

from anomalyd.service.storage import StoredPoints

ALERT_LINE = 1.0
"""``anomaly_score`` above this alerts (warning)."""
CRITICAL_LINE = 2.0
"""``anomaly_score`` above this is critical: as rare as the alert line squared."""


@dataclass(frozen=True)
class AlertRun:
    """Consecutive points with ``anomaly_score > 1``.

    ``start`` and ``end`` are the first and last alerting points' timestamps (Unix seconds),
    ``points`` how many there are, ``peak`` the highest score, ``severity`` ``"critical"`` when
    the peak is above 2, else ``"warning"``.
    """

    start: float
    end: float
    points: int
    peak: float
    severity: str


def alert_runs(ts: npt.NDArray[np.float64], score: npt.NDArray[np.float64]) -> list[AlertRun]:
    """The runs of ``score > 1`` (NaN does not alert), in time order.

    ``ts`` and ``score`` are arrays of shape (n_points,).
    """
    alerting = np.nan_to_num(score, nan=0.0) > ALERT_LINE
    edges = np.flatnonzero(np.diff(np.concatenate(([0], alerting.astype(np.int8), [0]))))
    return [_run(ts, score, int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _run(ts: npt.NDArray[np.float64], score: npt.NDArray[np.float64], a: int, b: int) -> AlertRun:
    peak = float(np.max(score[a:b]))
    severity = "critical" if peak > CRITICAL_LINE else "warning"
    return AlertRun(float(ts[a]), float(ts[b - 1]), b - a, peak, severity)


def thin(
    x: npt.NDArray[np.float64], columns: Sequence[npt.NDArray[np.float64]], n_out: int
) -> npt.NDArray[np.int64]:
    """Indices of the points to draw: all of them when there are at most ``n_out``, else the
    union of what MinMaxLTTB keeps (``n_out`` each) of every column (values of a channel, a
    score; NaN allowed), sorted. ``x`` (increasing) and each column have shape (n_points,).
    First and last points are always kept."""
    n = len(x)
    if n <= n_out:
        return np.arange(n, dtype=np.int64)
    keep = [_minmax_lttb(x, y, n_out) for y in columns]
    return np.unique(np.concatenate([*keep, [0, n - 1]]).astype(np.int64))


def chart_columns(pts: StoredPoints) -> list[npt.NDArray[np.float64]]:
    """What a series chart draws: each channel's values, then the score."""
    return [pts.values[:, c] for c in range(pts.values.shape[1])] + [pts.score]


def _minmax_lttb(
    ts: npt.NDArray[np.float64], y: npt.NDArray[np.float64], n_out: int
) -> npt.NDArray[np.int64]:
    """MinMaxLTTB's picks on ``y`` (NaN kept where a bucket has one); none when all NaN."""
    if not np.isfinite(y).any():
        return np.empty(0, dtype=np.int64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    picked = NaNMinMaxLTTBDownsampler().downsample(ts, y, n_out=n_out)
    return np.asarray(picked, dtype=np.int64)
