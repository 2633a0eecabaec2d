"""Matrix profile against the training span: each window's distance to its nearest neighbour."""

from __future__ import annotations

import numpy as np

from anomalyd.detectors._nearest import NearestWindowDetector
from anomalyd.detectors._windows import window_param
from anomalyd.detectors.base import FloatArray
from anomalyd.detectors.params import param


class MatrixProfile(NearestWindowDetector):
    """Z-normalised Euclidean distance from each window to its nearest training window.

    The score of point ``t`` is the distance from the window ending at ``t`` to the most
    similar window of the training span, both z-normalised per channel: the AB-join matrix
    profile (Yeh et al., "Matrix Profile I", ICDM 2016), equal to ``stumpy.stump(values,
    window, train, ignore_trivial=False)[:, 0]`` on windows that are not near-flat. 0 for a
    shape the training span showed exactly, at most ``2 * sqrt(window * n_channels)``; a
    shape never seen in training (a discord) scores high. Causal: only the window ending at
    ``t`` and the frozen training windows are used.

    A channel is standardised by its training mean and standard deviation first, and a window
    whose standard deviation is under 0.01 of the training one is divided by that floor
    instead of its own (``_windows.ZNORM_FLOOR``): near-flat windows stay near zero rather
    than blowing rounding noise up to unit scale (stumpy calls only exactly constant windows
    constant), and the scores are the same for a series times 1e15 or 1e-12.

    Distances are computed one window pair at a time (with early abandoning), by the compiled
    kernel the service's streaming path also uses, so one huge value changes only the windows
    that hold it. Cost: ``n_train_windows * window * n_channels`` multiply-adds per scored
    window at most, and the training windows are kept (``max_train_windows`` rows; evenly
    thinned beyond it, after which the profile is approximate).

    Attributes
    ----------
    train_windows_ : ndarray of shape (n_train_windows, window * n_channels)
        The standardised, z-normalised training windows (the references).
    """

    name = "mp"
    window: int = window_param(64, minimum=3)
    normalize: str = param(
        default="window",
        doc="'window': z-normalise each window per channel (the matrix profile); 'none': "
        "plain nearest-neighbour distance of the standardised windows",
        choices=("none", "window"),
    )
    max_train_windows: int = param(
        default=20000, doc="training windows kept as references (evenly thinned beyond)", minimum=2
    )

    def _fit_windows(self, w: FloatArray) -> None:
        self.train_windows_ = np.ascontiguousarray(w, dtype=np.float64)

    def _references(self) -> FloatArray:
        return self.train_windows_
