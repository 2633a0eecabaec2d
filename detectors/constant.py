"""The model of a constant training span: how far a point departs from the constant level."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param

#: fewest training points: a level seen a few times, not once
MIN_POINTS = 8
#: the largest raw score (a departure of this many tolerances)
MAX_RAW = 1e300
#: relative departure from the level that still counts as the level
TOLERANCE = 1e-9


class ConstantLevel(Detector):
    """Departure from the training span's one value per channel, in tolerances:
    ``max_ch(|x - level| / (tolerance * |level|) - 1)``, at least 0; higher = more anomalous.

    Window detectors learn nothing from a span where every point has the same value (every
    window is the same, so every later window scores alike and a spike never alerts). The
    service and ``anomalyd evaluate`` fit this detector instead when a training span is
    constant (:func:`anomalyd.detectors.crossfit.is_constant`), so a constant input scores exactly 0
    and any departure beyond the relative ``tolerance`` scores far above the alert line. With
    a level of 0, any non-zero value departs. Scale- and offset-free: the same series times
    1e15 or 1e-12 scores alike. Context 0 (each point on its own).

    Attributes
    ----------
    level_ : ndarray of shape (n_channels,)
        The training span's value per channel (NaN ignored).
    """

    name = "constant"
    tolerance: float = param(
        default=TOLERANCE,
        doc="relative departure from the level that still counts as the level",
        minimum=0.0,
    )

    def context_length_for_params(self) -> int:
        return 0

    def min_train_points(self) -> int:
        return MIN_POINTS

    def _fit(self, x: FloatArray) -> None:
        self.level_ = np.nanmedian(x, axis=0)

    def _score(self, x: FloatArray) -> FloatArray:
        return departure(x, self.level_, self.tolerance)


def constant_channels(x: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether each channel of ``x`` (shape (n_points, n_channels)) has one value, NaN ignored
    (a channel with no value is not constant): ndarray of shape (n_channels,)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN channel
        out: npt.NDArray[np.bool_] = np.nanmin(x, axis=0) == np.nanmax(x, axis=0)
    return out


def departure(x: FloatArray, level: FloatArray, tolerance: float) -> FloatArray:
    """``ConstantLevel``'s score of ``x`` (shape (n_points, n_channels)) against one ``level``
    per channel (shape (n_channels,)): shape (n_points,), NaN where any channel is NaN."""
    gap = np.abs(x - level)
    tol = tolerance * np.abs(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gap > tol, gap / np.where(tol > 0, tol, 1.0) - 1.0, 0.0)
        ratio = np.where((tol == 0) & (gap > 0), MAX_RAW, ratio)
    out: FloatArray = np.minimum(ratio, MAX_RAW).max(axis=1, initial=0.0)
    return np.where(np.isnan(x).any(axis=1), np.nan, out)
