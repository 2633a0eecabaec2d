"""Sliding-window helpers shared by the window detectors."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
from numba import njit
from numpy.lib.stride_tricks import as_strided

from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param
from anomalyd.metrics.window import unit_exponent

ScoreFn = Callable[[FloatArray], FloatArray]


def windows(x: FloatArray, window: int) -> FloatArray:
    """Flattened causal windows: row ``i`` holds points ``i .. i + window - 1`` of every channel.

    Shape ``(n - window + 1, window * n_channels)``; a view when possible.
    """
    if len(x) < window:
        return np.empty((0, window * x.shape[1]))
    n, c = x.shape
    s0, s1 = x.strides
    view = as_strided(x, shape=(n - window + 1, window, c), strides=(s0, s0, s1), writeable=False)
    return view.reshape(n - window + 1, window * c)


def to_points(window_scores: FloatArray, n: int, window: int) -> FloatArray:
    """Place the score of the window ending at ``t`` on point ``t``; NaN before the first."""
    out = np.full(n, np.nan)
    if n >= window:
        out[window - 1 :] = window_scores
    return out


def score_valid(w: FloatArray, fn: ScoreFn) -> FloatArray:
    """Apply ``fn`` to the windows without NaN; windows with NaN score NaN."""
    ok = ~np.isnan(w).any(axis=1)
    out = np.full(len(w), np.nan)
    if ok.any():
        out[ok] = fn(np.ascontiguousarray(w[ok]))
    return out


def train_windows(x: FloatArray, window: int, max_windows: int) -> FloatArray:
    """Training windows without NaN, evenly thinned to at most ``max_windows`` (deterministic)."""
    w = windows(x, window)
    w = w[~np.isnan(w).any(axis=1)]
    if len(w) > max_windows:
        idx = np.linspace(0, len(w) - 1, max_windows).round().astype(np.int64)
        w = w[idx]
    return np.ascontiguousarray(w)


REL_STD_FLOOR = 1e-12
"""A standard deviation is at least this fraction of the mean's magnitude (float rounding)."""
FLAT_SPREAD = 1e-8
"""A channel flat in training is standardised by this fraction of its level (its departures
are then large and graded; the ensemble weighs members' departures by these scales)."""


def channel_stats(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-channel mean and standard deviation of ``x`` ignoring NaN, each of shape
    (n_channels,); see :func:`spread_floor` for a channel without spread.

    Window detectors compute these on the training span and freeze them, so scoring stays causal.
    """
    mean = np.nanmean(x, axis=0)
    return mean, spread_floor(scaled_std(x, mean), mean)


def scaled_std(x: FloatArray, mean: FloatArray) -> FloatArray:
    """``nanstd(x, axis=0)`` computed in units of the largest deviation, so values near 1e200
    or 1e-200 do not overflow or underflow when squared."""
    dev = x - mean
    with np.errstate(invalid="ignore"):
        unit = np.nanmax(np.abs(dev), axis=0)
    unit = np.where(np.isfinite(unit) & (unit > 0), unit, 1.0)
    out: FloatArray = unit * np.nanstd(dev / unit, axis=0)
    return out


def exact_nanstd(x: FloatArray) -> FloatArray:
    """``nanstd(x, axis=0)`` of ``x`` of shape (n_points, n_channels): shape (n_channels,),
    computed on each channel scaled by a power of two (exact), so values near 1e300 do not
    overflow when squared; the same bits as ``nanstd`` unless that would overflow or
    underflow."""
    exponent = unit_exponent(x, axis=0)
    out: FloatArray = np.ldexp(np.nanstd(np.ldexp(x, -exponent), axis=0), exponent)
    return out


def spread_floor(spread: FloatArray, level: FloatArray, flat: float = FLAT_SPREAD) -> FloatArray:
    """``spread`` where it exceeds float rounding (``REL_STD_FLOOR * |level|``); for a flat
    channel ``flat * |level|``, or 1 where the level is 0.

    Relative, so a series times 1e15 or 1e-12 is standardised to the same numbers."""
    size = np.abs(level)
    flat_scale = np.where(size > 0, flat * size, 1.0)
    return np.where(spread > REL_STD_FLOOR * size, spread, flat_scale)


ZNORM_FLOOR = 0.01
#: at most this many windows, ``WindowDetector`` scores through ``_score_stream_many`` (one
#: compiled call for many series) instead of the array path. Streaming sends a few new points
#: per series, but a service that fell behind scores hundreds per series at once. Measured
#: (``benchmarks/stream_paths.py``): LOF 1.3-2.1x faster than the array path up to 1,024
#: windows with 256 training windows, 1.4-4.9x with 3,000 (consecutive training windows, read
#: as the series; 0.8x at 256-1,024 windows when they were read as a window matrix).
STREAM_WINDOWS = 1024


@njit(cache=True, nogil=True)
def _znorm_row(row: FloatArray, n_channels: int, floor: float) -> None:  # pragma: no cover
    """Z-normalise one flattened window in place, per channel (sums left to right)."""
    length = row.shape[0] // n_channels
    for ch in range(n_channels):
        total = 0.0
        for r in range(length):
            total += row[r * n_channels + ch]
        mean = total / length
        var = 0.0
        for r in range(length):
            diff = row[r * n_channels + ch] - mean
            var += diff * diff
        std = max(np.sqrt(var / length), floor)
        for r in range(length):
            row[r * n_channels + ch] = (row[r * n_channels + ch] - mean) / std


@njit(cache=True, nogil=True)
def _znorm_rows(w: FloatArray, n_channels: int, floor: float) -> FloatArray:  # pragma: no cover
    out = w.copy()
    for i in range(out.shape[0]):
        _znorm_row(out[i], n_channels, floor)
    return out


@njit(cache=True, nogil=True)
def standardize(x: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:  # pragma: no cover
    """``(x - mean) / std`` per channel (NaN stays NaN): each point once, not once per window."""
    z = np.empty(x.shape)
    for t in range(x.shape[0]):
        for ch in range(x.shape[1]):
            z[t, ch] = (x[t, ch] - mean[ch]) / std[ch]
    return z


@njit(cache=True, nogil=True)
def feature_row(
    z: FloatArray,
    end: int,
    window: int,
    znorm: bool,
    row: FloatArray,
) -> bool:  # pragma: no cover
    """Write the features of the window ending at ``end`` into ``row``; False if it has NaN.

    ``z`` is ``standardize(x, mean, std)``. The same values as
    ``windows((x - mean) / std, window)[end - window + 1]``, followed by ``znorm_windows`` when
    ``znorm``: the compiled streaming kernels and the array path of a ``WindowDetector`` see
    bit-identical features.
    """
    n_channels = z.shape[1]
    start = end - window + 1
    for r in range(window):
        for ch in range(n_channels):
            value = z[start + r, ch]
            if np.isnan(value):
                return False
            row[r * n_channels + ch] = value
    if znorm:
        _znorm_row(row, n_channels, ZNORM_FLOOR)
    return True


def znorm_windows(w: FloatArray, n_channels: int, floor: float = ZNORM_FLOOR) -> FloatArray:
    """Z-normalise each flattened window per channel with its own mean and std (std >= floor).

    Keeps the shape of each window and drops its level and scale (for shape-based detection).
    The floor (default 0.01, in the units of ``w``: training standard deviations after
    ``channel_stats`` scaling) keeps near-flat windows from blowing rounding noise up to unit
    scale. Compiled, with sums left to right (the same arithmetic as ``feature_row``).
    """
    return _znorm_rows(np.ascontiguousarray(w, dtype=np.float64), n_channels, floor)


def window_param(default: int, minimum: int) -> Any:
    """The ``window`` parameter field of a window detector (see ``params.param``)."""
    return param(
        default=default, doc="points per window (the point itself included)", minimum=minimum
    )


class WindowDetector(Detector):
    """Shared machinery of detectors that score the window ending at each point.

    Inputs are standardised per channel with the training mean/std (frozen at fit, so scoring
    stays causal); ``normalize="window"`` also z-normalises each window per channel, so only
    its shape counts. Subclasses implement ``_fit_windows`` and ``_score_windows``.
    """

    window: int = window_param(64, minimum=1)
    normalize: str = param(
        default="none",
        doc="'none': per-channel training standardisation only; 'window': also z-normalise "
        "each window per channel (shape only)",
        choices=("none", "window"),
    )
    max_train_windows: int = param(
        default=5000, doc="training windows kept (evenly thinned beyond this)", minimum=2
    )
    split_batches = True

    def context_length_for_params(self) -> int:
        return int(self.window) - 1

    def _features(self, w: FloatArray) -> FloatArray:
        return w if self.normalize == "none" else znorm_windows(w, self.n_channels_)

    def _check_train_windows(self, n_windows: int) -> None:
        if n_windows < 2:
            raise ValueError(
                f"{self.name} needs at least 2 training windows without NaN. Got {n_windows} "
                "instead: send more history or lower `window`."
            )

    def _fit(self, x: FloatArray) -> None:
        self.mean_, self.std_ = channel_stats(x)
        z = (x - self.mean_) / self.std_
        w = self._features(train_windows(z, self.window, self.max_train_windows))
        self._check_train_windows(len(w))
        self._fit_windows(w)

    @abc.abstractmethod
    def _fit_windows(self, w: FloatArray) -> None:
        """Learn from the standardised training windows (features already applied)."""

    @abc.abstractmethod
    def _score_windows(self, w: FloatArray) -> FloatArray:
        """Score standardised windows without NaN (apply ``_features`` first)."""

    def _score(self, x: FloatArray) -> FloatArray:
        return self._score_many([(self, x)])[0]

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """Series with at most ``STREAM_WINDOWS`` windows go through ``_score_stream_many`` at
        once; longer ones through the array path one by one."""
        few = [i for i, (det, x) in enumerate(items) if len(x) - det.window + 1 <= STREAM_WINDOWS]
        stream = cls._score_stream_many([items[i] for i in few]) if few else []
        out = dict(zip(few, stream, strict=True))
        return [out[i] if i in out else det._score_array(x) for i, (det, x) in enumerate(items)]

    def _score_array(self, x: FloatArray) -> FloatArray:
        w = windows((x - self.mean_) / self.std_, self.window)
        return to_points(score_valid(w, self._score_windows), len(x), self.window)

    def _score_stream(self, x: FloatArray) -> FloatArray:
        return self._score_stream_many([(self, x)])[0]

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """The scores of a few windows of many series: override with one compiled call over
        all of them (``_kernels.score_records``; ``feature_row`` builds the features) giving
        the same values."""
        return [det._score_array(x) for det, x in items]
