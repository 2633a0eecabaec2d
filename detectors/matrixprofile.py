"""Matrix profile (discord) scores against the training span, computed by stumpy."""

from __future__ import annotations

import warnings

import numpy as np

from anomalyd.detectors._windows import channel_stats, to_points, window_param
from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param


class MatrixProfile(Detector):
    """Distance of each window to its nearest neighbour among the training windows, shapes only.

    The score of point ``t`` is the z-normalised Euclidean distance from the window ending at
    ``t`` to the most similar window of the training span (the AB-join matrix profile of
    Yeh et al., "Matrix Profile I", ICDM 2016, as ``stumpy.stump(values, window, train,
    ignore_trivial=False)`` computes it), divided by ``sqrt(window)``: 0 for a shape the
    training span showed exactly, at most 2. A window never seen in training (a discord)
    scores high; every training window is a reference, none is thinned away. Causal: only
    the window ending at ``t`` and the frozen training span are used.

    Each window is z-normalised, so levels and scales do not count; a channel is first
    standardised by its training mean and standard deviation, so that what stumpy treats as a
    constant window (standard deviation under ``stumpy.config.STUMPY_STDDEV_THRESHOLD``) is
    the same for a series times 1e15 or 1e-12. A constant window is at distance 0 from a
    constant training window and 1 from a varying one (stumpy's convention). Multivariate:
    the mean over channels of each channel's distance.

    Cost: each call of ``score`` reads the whole training span (about ``n_train`` multiply-adds
    per window plus a fixed cost of an FFT over the span), so streaming one point at a time is
    slower than with the other window detectors.

    Attributes
    ----------
    train_ : ndarray of shape (n_train, n_channels)
        The standardised training span (its last ``max_train_points`` points).
    mean_, std_ : ndarray of shape (n_channels,)
        The per-channel training mean and standard deviation.

    Raises
    ------
    ValueError
        From ``fit`` when a channel has fewer than 2 training windows without NaN.
    """

    name = "mp"
    window: int = window_param(64, minimum=3)
    max_train_points: int = param(
        default=20000, doc="the training span's last points kept as references", minimum=4
    )

    def context_length_for_params(self) -> int:
        return int(self.window) - 1

    def _fit(self, x: FloatArray) -> None:
        self.mean_, self.std_ = channel_stats(x)
        train = ((x - self.mean_) / self.std_)[-int(self.max_train_points) :]
        for ch in range(train.shape[1]):
            n_ok = _complete_windows(train[:, ch], int(self.window))
            if n_ok < 2:
                raise ValueError(
                    f"mp needs at least 2 training windows without NaN in every channel. "
                    f"Got {n_ok} in channel {ch} instead: send more history or lower `window`."
                )
        self.train_ = np.ascontiguousarray(train)

    def _score(self, x: FloatArray) -> FloatArray:
        m = int(self.window)
        if len(x) < m:
            return np.full(len(x), np.nan)
        z = (x - self.mean_) / self.std_
        dist = np.mean([self._channel_profile(z[:, ch], ch) for ch in range(z.shape[1])], axis=0)
        return to_points(dist / np.sqrt(m), len(x), m)

    def _channel_profile(self, values: FloatArray, ch: int) -> FloatArray:
        """AB-join profile of one channel, shape (n_windows,): NaN for windows holding NaN."""
        import stumpy

        with warnings.catch_warnings(), np.errstate(divide="ignore"):
            # stumpy's self-join hints (equal arrays, many zeros: flat or repeated data) do not
            # apply to a join against the training span; a constant window divides by zero
            warnings.simplefilter("ignore", UserWarning)
            profile = stumpy.stump(
                values, int(self.window), self.train_[:, ch], ignore_trivial=False
            )
        out = np.asarray(profile[:, 0], dtype=np.float64)
        out[~np.isfinite(out)] = np.nan
        return out


def _complete_windows(values: FloatArray, window: int) -> int:
    """How many windows of ``values`` hold no NaN."""
    if len(values) < window:
        return 0
    bad = np.convolve(np.isnan(values).astype(np.int64), np.ones(window, np.int64), "valid")
    return int((bad == 0).sum())
