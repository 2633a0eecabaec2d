"""One-step forecast residual: how far a point lands from a robust forecast made without it.

Window detectors score the window that ends at a point, so one extreme point changes a 64- or
288-point window little, and an ensemble that averages several of them hardly moves: one-point
spikes and dips of 6-10 noise standard deviations went unalerted on traffic with a daily
cycle, on a random-walk queue and on a drifting gauge. This detector looks at the point alone.

Each channel is forecast from its own recent past by the predictor, among a few fixed ones,
whose residuals on the training span have the smallest ``quantile`` (so the alert line it
implies is the lowest; the predictors have no fitted coefficients, so in-sample residuals are
out-of-sample ones):

* ``median(x[t-k:t])`` for ``k`` = 3, 4, 8, 16, ... up to ``window - 1`` (the last few
  values suit a random walk, a long median i.i.d. noise; at least three, so that one extreme
  point does not move the next points' forecasts);
* ``b(t) + median(x[t-k:t] - b[t-k:t])`` with ``b(t)`` the median of the values one, two and
  three periods ``P`` before ``t``: the same time of the last periods, moved by how the
  recent points differ from theirs (periodic jobs, daily traffic); ``P`` the training span's
  period (``anomalyd.metrics.window.sliding_window``), tried when the span holds four periods. The
  median over three periods keeps a past spike from echoing one period later. It is chosen
  only when its residual quantile is at most half the best plain one: it bets that the cycle
  repeats, and calendar breaks the span may not hold (a first weekend, a holiday) lose that
  bet, while the plain medians follow any level.

A spike does not move a median of three or more points, so an anomalous point raises its own
score only: the detector's ``echo_window`` is 1 (2 when ``window`` < 4 leaves only one- and
two-point lookbacks).

The raw score is ``|x[t] - forecast| / scale`` with ``scale`` the chosen residuals'
``quantile`` on the training span (floored relative to the level, so scores do not depend on
a series' scale or offset), the maximum over channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.detectors._windows import spread_floor
from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param

IntArray = npt.NDArray[np.int64]

MIN_RESIDUALS = 16
"""Fewest finite training residuals a predictor is judged on."""
SEASONS = 3
"""Past periods whose median is the periodic forecast's base."""
PERIODS_NEEDED = SEASONS + 1
"""A periodic predictor is tried only on a training span this many periods long."""
MIN_LOOKBACK = 3
"""Shortest lookback tried (when ``window`` allows): a median of three ignores one spike."""
SEASONAL_GAIN = 2.0
"""A periodic predictor must divide the best plain one's residual quantile by this much."""


@njit(cache=True, nogil=True)
def _residuals(
    x: FloatArray, starts: IntArray, lookback: IntArray, period: IntArray
) -> FloatArray:  # pragma: no cover
    """``x[t] - forecast(t)`` of every point of the segments ``x[starts[i]:starts[i + 1]]``,
    each with its own predictor (``lookback[i]``, ``period[i]``; period 0: not periodic).
    NaN where any of the ``SEASONS * period + lookback`` points before ``t``, or ``t``, is NaN
    or missing (the detector contract: a score needs its whole context)."""
    out = np.full(x.shape[0], np.nan)
    for seg in range(starts.shape[0] - 1):
        lo, hi, k, p = starts[seg], starts[seg + 1], lookback[seg], period[seg]
        for t in range(lo + k + SEASONS * p, hi):
            if np.isnan(x[t - SEASONS * p - k : t + 1]).any():  # a full window
                continue
            recent = x[t - k : t].copy()
            for i in range(k):
                recent[i] -= _base(x, t - k + i, p)
            out[t] = x[t] - _base(x, t, p) - np.median(recent)
    return out


@njit(cache=True, nogil=True)
def _base(x: FloatArray, t: int, p: int) -> float:  # pragma: no cover
    """Median of ``x`` one to ``SEASONS`` periods before ``t``; 0 when not periodic."""
    if p == 0:
        return 0.0
    past = np.empty(SEASONS)
    for j in range(SEASONS):
        past[j] = x[t - (j + 1) * p]
    return float(np.median(past))


def _segments(columns: Sequence[FloatArray]) -> tuple[FloatArray, IntArray]:
    """The columns as one flat array and the offsets where each starts (and the last ends)."""
    starts = np.zeros(len(columns) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(c) for c in columns])
    flat = np.concatenate(columns) if columns else np.empty(0)
    return np.ascontiguousarray(flat, dtype=np.float64), starts


class ForecastResidual(Detector):
    """Distance of each point from a robust one-step forecast, in units of the training
    residuals' ``quantile``; higher = more anomalous. See the module docstring.

    Attributes
    ----------
    lookback_ : ndarray of shape (n_channels,)
        Points the forecast's median looks back, per channel.
    period_ : ndarray of shape (n_channels,)
        The period the forecast looks back by, per channel; 0 for a plain median.
    scale_ : ndarray of shape (n_channels,)
        The training residuals' ``quantile`` per channel (floored): a raw score of 1.
    """

    name = "residual"
    window: int = param(default=33, doc="most recent points a forecast uses, plus one", minimum=2)
    seasonal: bool = param(default=True, doc="also try forecasts from one period ago")
    quantile: float = param(
        default=0.99,
        doc="training residual quantile the forecast is chosen by and scaled to",
        minimum=0.5,
        maximum=1.0,
    )

    def context_length_for_params(self) -> int:
        """Before fit, the longest plain median's lookback (a period adds to it after fit)."""
        return int(self.window) - 1

    @property
    def context_length(self) -> int:
        self._check_fitted()
        return int(np.max(self.lookback_ + SEASONS * self.period_))

    @property
    def echo_window(self) -> int:
        """1: a point moves no median of three or more; 2 with shorter lookbacks only."""
        self._check_fitted()
        return 1 if int(np.min(self.lookback_)) >= MIN_LOOKBACK else 2

    def lookbacks(self) -> list[int]:
        """Candidate lookbacks: 3, 4, 8, 16, ... up to ``window - 1`` (1, 2 below 4)."""
        top = self.window - 1
        if top < MIN_LOOKBACK:
            return list(range(1, top + 1))
        return [MIN_LOOKBACK] + [2**i for i in range(2, int(np.log2(top)) + 1)]

    def _fit(self, x: FloatArray) -> None:
        chosen = [self._choose(x[:, c]) for c in range(x.shape[1])]
        self.lookback_ = np.array([c[0] for c in chosen], dtype=np.int64)
        self.period_ = np.array([c[1] for c in chosen], dtype=np.int64)
        level = np.nanmedian(x, axis=0)
        self.scale_ = spread_floor(np.array([c[2] for c in chosen]), level)

    def _choose(self, column: FloatArray) -> tuple[int, int, float]:
        """(lookback, period, residual quantile) of the chosen predictor: the plain one with
        the smallest quantile, or the periodic one if its quantile is ``SEASONAL_GAIN`` times
        smaller. Raises ValueError when no plain predictor has ``MIN_RESIDUALS`` finite
        residuals."""
        best = self._best(column, 0)
        if best is None:
            raise ValueError(
                f"The training span of `residual` needs {MIN_RESIDUALS} points with "
                f"{self.window - 1} finite points before each. Got too few."
            )
        period = self._period(column)
        seasonal = self._best(column, period) if period else None
        if seasonal is not None and seasonal[2] * SEASONAL_GAIN <= best[2]:
            return seasonal
        return best

    def _best(self, column: FloatArray, period: int) -> tuple[int, int, float] | None:
        """(lookback, period, residual quantile) of the best lookback at ``period``."""
        best: tuple[int, int, float] | None = None
        for k in self.lookbacks():
            found = self._residual_quantile(column, k, period)
            if found is not None and (best is None or found < best[2]):
                best = (k, period, found)
        return best

    def _period(self, column: FloatArray) -> int:
        """The span's period when ``seasonal`` and the span holds ``PERIODS_NEEDED`` of them;
        else 0."""
        if not self.seasonal:
            return 0
        from anomalyd.metrics.window import sliding_window

        finite = column[np.isfinite(column)]
        period = sliding_window(finite) if len(finite) > 2 * self.window else 0
        return period if len(column) >= PERIODS_NEEDED * period else 0

    def _residual_quantile(self, column: FloatArray, k: int, period: int) -> float | None:
        flat, starts = _segments([column])
        r = _residuals(flat, starts, np.array([k]), np.array([period]))
        r = np.abs(r[np.isfinite(r)])
        return float(np.quantile(r, self.quantile)) if len(r) >= MIN_RESIDUALS else None

    def _score(self, x: FloatArray) -> FloatArray:
        return _score_all([(self, x)])[0]

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """Every channel of every series in one compiled call."""
        return _score_all(items)

    def min_train_points(self) -> int:
        return 2 * self.window + MIN_RESIDUALS


def _score_all(items: Sequence[tuple[ForecastResidual, FloatArray]]) -> list[FloatArray]:
    """Scores of many series: each channel a segment of one flat array; max over channels."""
    columns = [x[:, c] for _, x in items for c in range(x.shape[1])]
    flat, starts = _segments(columns)
    lookback = np.concatenate([det.lookback_ for det, _ in items]) if items else np.empty(0)
    period = np.concatenate([det.period_ for det, _ in items]) if items else np.empty(0)
    scale = np.concatenate([det.scale_ for det, _ in items]) if items else np.empty(0)
    r = np.abs(_residuals(flat, starts, lookback.astype(np.int64), period.astype(np.int64)))
    out, at = [], 0
    for _, x in items:
        per_channel = [
            r[starts[at + c] : starts[at + c + 1]] / scale[at + c] for c in range(x.shape[1])
        ]
        out.append(np.max(np.stack(per_channel), axis=0))
        at += x.shape[1]
    return out
