"""Rolling robust z-score (median / MAD): the cheap, explainable baseline."""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.base import Detector, FloatArray, Param

_MAD_TO_SIGMA = 1.4826


@njit(cache=True)
def _rolling_robust_z(x: FloatArray, window: int, floor: float) -> FloatArray:  # pragma: no cover
    n = x.shape[0]
    out = np.full(n, np.nan)
    for t in range(window - 1, n):
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
    params = (
        Param("window", int, 64, "points per window (the point itself included)", minimum=3),
        Param(
            "min_scale",
            float,
            0.05,
            "lower bound on the rolling scale, as a fraction of the training robust scale",
            minimum=0.0,
        ),
    )

    def __init__(self, *, window: int = 64, min_scale: float = 0.05) -> None:
        self.window = window
        self.min_scale = min_scale

    def context_length_for_params(self) -> int:
        return int(self.window) - 1

    def _fit(self, x: FloatArray) -> None:
        med = np.nanmedian(x, axis=0)
        mad = np.nanmedian(np.abs(x - med), axis=0) * _MAD_TO_SIGMA
        tiny = 1e-9 * (1.0 + np.abs(med))
        self.floor_ = np.maximum(self.min_scale * mad, tiny)

    def _score(self, x: FloatArray) -> FloatArray:
        per_channel = [
            _rolling_robust_z(np.ascontiguousarray(x[:, c]), self.window, float(self.floor_[c]))
            for c in range(x.shape[1])
        ]
        return np.max(np.stack(per_channel), axis=0) if len(per_channel) > 1 else per_channel[0]
