"""Rolling robust z-score (median / MAD): the cheap, explainable baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.detectors._windows import exact_nanstd, spread_floor
from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param

IntArray = npt.NDArray[np.int64]

_MAD_TO_SIGMA = 1.4826


@njit(cache=True, nogil=True)
def _rolling_robust_z(
    x: FloatArray, starts: IntArray, floors: FloatArray, window: int
) -> FloatArray:  # pragma: no cover
    """Robust z of every point of the segments ``x[starts[i]:starts[i + 1]]``, each on its own.

    One call scores many series (or channels): the windows never cross a segment boundary.
    """
    out = np.full(x.shape[0], np.nan)
    for seg in range(starts.shape[0] - 1):
        lo, hi, floor = starts[seg], starts[seg + 1], floors[seg]
        for t in range(lo + window - 1, hi):
            ref = x[t - window + 1 : t]
            if np.isnan(x[t]) or np.isnan(ref).any():
                continue
            med = np.median(ref)
            mad = np.median(np.abs(ref - med)) * _MAD_TO_SIGMA
            out[t] = abs(x[t] - med) / max(mad, floor)
    return out


class RollingMAD(Detector):
    """|x_t - median| / (1.4826 MAD) over the ``window - 1`` points before ``t``.

    Per channel; a multivariate point scores the maximum over its channels. The scale never
    drops below ``min_scale`` times the training span's own robust scale, so flat stretches do
    not turn rounding noise into alerts.
    """

    name = "mad"
    window: int = param(default=64, doc="points per window (the point itself included)", minimum=3)
    min_scale: float = param(
        default=0.05,
        doc="lower bound on the rolling scale, as a fraction of the training robust scale",
        minimum=0.0,
    )

    def context_length_for_params(self) -> int:
        return int(self.window) - 1

    def _fit(self, x: FloatArray) -> None:
        med = np.nanmedian(x, axis=0)
        mad = np.nanmedian(np.abs(x - med), axis=0) * _MAD_TO_SIGMA
        spread = np.where(mad > 0, mad, exact_nanstd(x))  # zero-inflated: MAD is 0
        self.floor_ = spread_floor(self.min_scale * spread, med)

    def _score(self, x: FloatArray) -> FloatArray:
        return _score_all([(self, x)])[0]

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """Score many series in one compiled call (the windows of a series stay its own)."""
        return _score_all(items)


def _score_all(items: Sequence[tuple[RollingMAD, FloatArray]]) -> list[FloatArray]:
    """Every channel of every series as one segment of one flat array; max over channels."""
    columns = [x[:, c] for _, x in items for c in range(x.shape[1])]
    floors = np.array([f for det, _ in items for f in det.floor_], dtype=np.float64)
    windows = {int(det.window) for det, _ in items}
    if len(windows) > 1:  # different windows: one call per window
        return [_score_all([item])[0] for item in items]
    starts = np.zeros(len(columns) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(c) for c in columns])
    flat = np.concatenate(columns) if columns else np.empty(0)
    z = _rolling_robust_z(flat, starts, floors, windows.pop() if windows else 3)
    out, at = [], 0
    for _, x in items:
        per_channel = [z[starts[at + c] : starts[at + c + 1]] for c in range(x.shape[1])]
        out.append(np.max(np.stack(per_channel), axis=0) if x.shape[1] > 1 else per_channel[0])
        at += x.shape[1]
    return out
