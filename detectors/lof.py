"""Local Outlier Factor of sliding windows against the training windows (novelty mode)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from anomalyd.detectors._kernels import (
    KIND_LOF,
    KIND_LOF_SLIDING,
    Records,
    record,
    score_records,
)
from anomalyd.detectors._knn import lof_fit, lof_score, sliding_series
from anomalyd.detectors._ragged import cached_on
from anomalyd.detectors._windows import WindowDetector
from anomalyd.detectors.base import FloatArray
from anomalyd.detectors.params import param

BoolArray = npt.NDArray[np.bool_]

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
    n_neighbors: int = param(default=20, doc="nearest training windows compared with", minimum=1)
    max_train_windows: int = param(
        default=5000,
        doc="training windows kept (evenly thinned beyond this); all are stored and searched",
        minimum=2,
    )

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
        # kept transposed (dim, n): the streaming kernel runs along the references
        self.reference_t_ = np.ascontiguousarray(w.T)
        self.k_distance_, self.lrd_ = lof_fit(w, int(self.n_neighbors))

    def _score_windows(self, w: FloatArray) -> FloatArray:
        ref = (self.reference_t_.T, self.k_distance_, self.lrd_)
        return lof_score(self._features(w), *ref, int(self.n_neighbors))

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        return score_records(items)

    def _stream_reference(self) -> tuple[FloatArray, bool]:
        """What the streaming kernels read: the training series itself when the reference
        windows are its consecutive windows (``_knn.sliding_series``), else ``reference_t_``."""

        def make() -> tuple[FloatArray, bool]:
            series = sliding_series(self.reference_t_, self.n_channels_)
            return (self.reference_t_, False) if series is None else (series, True)

        return cached_on(self, "_stream_reference_of", (self.reference_t_,), make)

    def stream_record(self) -> Records:
        reference, sliding = self._stream_reference()
        fitted = (reference, self.k_distance_, self.lrd_)
        kind = KIND_LOF_SLIDING if sliding else KIND_LOF
        return record(self, kind, fitted, reference.shape, int(self.n_neighbors))

    # saved row by row under ``reference_`` (the file format does not depend on the layout)
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super().state_arrays()
        arrays["reference_"] = np.ascontiguousarray(arrays.pop("reference_t_").T)
        return arrays

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        own = dict(arrays)
        own["reference_t_"] = np.ascontiguousarray(own.pop("reference_").T)
        super().load_state(own, meta)
