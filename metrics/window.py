"""The VUS window of a series: TSB-AD's ACF period estimate ``find_length_rank(data, rank=1)``.

TSB-AD's leaderboard evaluates every series with ``slidingWindow = find_length_rank(...)``, so
using the same estimate makes our VUS numbers comparable with its published ones. Definition:

1. Keep the first 20,000 values.
2. Autocorrelation up to lag 400 exactly as ``statsmodels.tsa.stattools.acf(x, nlags=400,
   fft=True)`` computes it: demean, zero-pad to the next 5-smooth length >= ``2n + 1``, FFT
   autocovariance divided by ``n`` at every lag (biased), normalised by lag 0. Fewer lags when
   the series is shorter than 401 points.
3. Drop lags 0, 1, 2; among the strict interior local maxima of the rest take the highest.
4. Its lag if that lies in 6..303, else 125. With no local maximum (e.g. a constant or too
   short series) also 125.

Input: a 1-D array, or 2-D ``(n, c)``: only the first channel is used, as TSB-AD's
``Run_Detector_M.py`` does (``find_length_rank(data[:, 0].reshape(-1, 1))``).
On the benchmark the window is computed on the whole series (training prefix + test part),
which reproduces TSB-AD's windows on all 132 labelled univariate series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from anomalyd.metrics._validation import FloatArray

MAX_POINTS = 20_000
"""Only this many leading points enter the estimate."""
MAX_LAG = 400
"""Largest autocorrelation lag examined."""
SKIP_LAGS = 3
"""Lags below this are never a period."""
DEFAULT_WINDOW = 125
"""Returned when no usable period is found."""
MIN_OFFSET, MAX_OFFSET = 3, 300
"""A peak at index ``i`` of the ACF with lags < SKIP_LAGS dropped is used only if
``MIN_OFFSET <= i <= MAX_OFFSET`` (lag ``i + SKIP_LAGS``)."""


def sliding_window(values: npt.ArrayLike) -> int:
    """Return the VUS window (period estimate) of ``values``; see the module docstring."""
    series = _first_channel(values)[:MAX_POINTS]
    acf = autocorrelation(series, MAX_LAG)[SKIP_LAGS:]
    peaks = _strict_local_maxima(acf)
    if peaks.size == 0:
        return DEFAULT_WINDOW
    # highest peak; among exactly equal heights the one numpy's argsort puts last, as TSB-AD
    best = int(peaks[np.argsort(acf[peaks])[-1]])
    if best < MIN_OFFSET or best > MAX_OFFSET:
        return DEFAULT_WINDOW
    return best + SKIP_LAGS


def autocorrelation(series: FloatArray, max_lag: int) -> FloatArray:
    """statsmodels' ``acf(series, nlags=max_lag, fft=True)`` (same operations, same rounding).

    A constant series (zero after demeaning) has an all-``nan`` ACF, as in statsmodels.
    The series is first scaled by a power of two (exact), so values near 1e300 or 1e-300 neither
    overflow nor underflow when squared; the bits are those of the unscaled computation unless
    that one would overflow or underflow.
    """
    n = series.shape[0]
    scaled = np.ldexp(series, -unit_exponent(series, axis=None))
    centred = scaled - scaled.mean()
    spectrum = np.fft.fft(centred, n=next_regular(2 * n + 1))
    autocov = (np.fft.ifft(spectrum * np.conjugate(spectrum))[:n] / np.full(n, float(n))).real
    with np.errstate(divide="ignore", invalid="ignore"):
        return autocov[: max_lag + 1] / autocov[0]


def unit_exponent(values: npt.NDArray[np.float64], axis: int | None) -> Any:
    """The power of two ``e`` that brings the largest ``|values|`` along ``axis`` (None: all)
    into [1/2, 1): an int, or an int array of the shape ``values.max(axis)`` has; NaN is
    ignored, and 0 stands for all-zero, empty or non-finite. Scaling by it is exact, so values
    near 1e300 or 1e-300 can be squared in their own units."""
    top = np.max(np.where(np.isnan(values), 0.0, np.abs(values)), axis=axis, initial=0.0)
    exponent = np.where(np.isfinite(top) & (top > 0), np.frexp(top)[1], 0)
    return int(exponent) if axis is None else exponent


def next_regular(target: int) -> int:
    """Smallest 5-smooth number (only prime factors 2, 3, 5) that is >= ``target``."""
    if target <= 6:
        return target
    best = 1 << (target - 1).bit_length()  # next power of two
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = 1 << max((-(-target // p35) - 1).bit_length(), 0)
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


def _strict_local_maxima(values: FloatArray) -> npt.NDArray[np.intp]:
    """Interior indices strictly greater than both neighbours (``nan`` never qualifies)."""
    if values.shape[0] < 3:
        return np.empty(0, dtype=np.intp)
    mid = values[1:-1]
    with np.errstate(invalid="ignore"):
        mask = (mid > values[:-2]) & (mid > values[2:])
    return np.flatnonzero(mask) + 1


def _first_channel(values: npt.ArrayLike) -> FloatArray:
    """Validate ``values`` and return its first channel as a finite 1-D float array."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError("`values` has no channel (shape (n, 0)): pass at least one column.")
    if arr.ndim == 2:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            "`values` must be a 1-D series or a 2-D (n, channels) array. "
            f"Got an array of shape {arr.shape} instead."
        )
    if arr.shape[0] == 0:
        raise ValueError("`values` is empty: pass at least one point to estimate a window.")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"`values` must be numeric. Got dtype {arr.dtype} instead.")
    out = arr.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"`values` must be finite; {int(bad.sum())} value(s) are NaN or inf (first at index "
            f"{int(np.flatnonzero(bad)[0])}). TSB-AD drops such rows first: do the same."
        )
    return out
