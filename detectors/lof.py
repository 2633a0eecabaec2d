"""Local Outlier Factor of sliding windows against the training windows (novelty mode)."""

from __future__ import annotations

from detectors._knn import lof_fit, lof_score
from detectors._windows import NORMALIZE, WindowDetector, window_param
from detectors.base import FloatArray, Param

__all__ = ["WindowLOF", "lof_fit", "lof_score"]


class WindowLOF(WindowDetector):
    """Local Outlier Factor (Breunig et al. 2000) of each window among the training windows.

    The score of point ``t`` is the LOF of the window ending at ``t`` with respect to the
    training windows (exact Euclidean ``n_neighbors`` nearest neighbours): the mean local
    reachability density of its neighbours divided by its own. About 1 for a window as dense
    as its neighbourhood; well above 1 for a window in a sparser region than its nearest
    training windows (anomalous). It equals scikit-learn's
    ``-LocalOutlierFactor(novelty=True).score_samples`` on the same windows.

    Inputs are standardised per channel with the training mean/std; ``normalize="window"``
    also z-normalises each window per channel, so only its shape counts (not level or scale).
    """

    name = "lof"
    params = (
        window_param(64, minimum=1),
        Param("n_neighbors", int, 20, "nearest training windows compared with", minimum=1),
        NORMALIZE,
        Param(
            "max_train_windows",
            int,
            5000,
            "training windows kept (evenly thinned beyond this); all are stored and searched",
            minimum=2,
        ),
    )

    def __init__(
        self,
        *,
        window: int = 64,
        n_neighbors: int = 20,
        normalize: str = "none",
        max_train_windows: int = 5000,
    ) -> None:
        self.window = window
        self.n_neighbors = n_neighbors
        self.normalize = normalize
        self.max_train_windows = max_train_windows

    def _check_param_relations(self) -> None:
        if self.n_neighbors >= self.max_train_windows:
            raise ValueError(
                f"`n_neighbors` ({self.n_neighbors}) must be smaller than `max_train_windows` "
                f"({self.max_train_windows})."
            )

    def min_train_points(self) -> int:
        """Enough points for ``n_neighbors + 1`` windows (and at least two full windows)."""
        return max(super().min_train_points(), int(self.window) + int(self.n_neighbors))

    def _check_train_windows(self, n_windows: int) -> None:
        if n_windows <= self.n_neighbors:
            raise ValueError(
                f"`n_neighbors` ({self.n_neighbors}) must be smaller than the number of "
                f"training windows without NaN ({n_windows}): send more history or lower "
                "`n_neighbors`."
            )

    def _fit_windows(self, w: FloatArray) -> None:
        self.reference_ = w
        self.k_distance_, self.lrd_ = lof_fit(w, int(self.n_neighbors))

    def _score_windows(self, w: FloatArray) -> FloatArray:
        ref = (self.reference_, self.k_distance_, self.lrd_)
        return lof_score(self._features(w), *ref, int(self.n_neighbors))
