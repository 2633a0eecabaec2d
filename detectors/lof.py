"""Local Outlier Factor of sliding windows against the training windows (novelty mode)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.detectors._knn import IntArray, lof_fit, lof_of_row, lof_score, sliding_series
from anomalyd.detectors._ragged import (
    KIND_LOF,
    KIND_LOF_SLIDING,
    Packed,
    addresses,
    cached_on,
    member_record,
    series_input,
    view,
)
from anomalyd.detectors._windows import (
    NORMALIZE,
    WindowDetector,
    feature_row,
    standardize,
    window_param,
)
from anomalyd.detectors.base import FloatArray, Param

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
        # kept transposed (dim, n): the streaming kernel runs along the references
        self.reference_t_ = np.ascontiguousarray(w.T)
        self.k_distance_, self.lrd_ = lof_fit(w, int(self.n_neighbors))

    def _score_windows(self, w: FloatArray) -> FloatArray:
        ref = (self.reference_t_.T, self.k_distance_, self.lrd_)
        return lof_score(self._features(w), *ref, int(self.n_neighbors))

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        packed = Packed.of(items)
        refs = [det._stream_reference() for det, _ in items]
        fitted = [
            (det, ref, det.k_distance_, det.lrd_)
            for (det, _), (ref, _) in zip(items, refs, strict=True)
        ]
        addrs = np.array([addresses(*f) for f in fitted], dtype=np.int64).reshape(-1, 3)
        shapes = np.array([ref.shape for ref, _ in refs], dtype=np.int64).reshape(-1, 2)
        sliding = np.array([flag for _, flag in refs], dtype=np.bool_)
        ks = np.array([int(det.n_neighbors) for det, _ in items], dtype=np.int64)
        out = _lof_stream_many(packed.args(), addrs, shapes, sliding, ks)
        return packed.split(out)

    def _stream_reference(self) -> tuple[FloatArray, bool]:
        """What the streaming kernels read: the training series itself when the reference
        windows are its consecutive windows (``_knn.sliding_series``), else ``reference_t_``."""

        def make() -> tuple[FloatArray, bool]:
            series = sliding_series(self.reference_t_, self.n_channels_)
            return (self.reference_t_, False) if series is None else (series, True)

        return cached_on(self, "_stream_reference_of", (self.reference_t_,), make)

    def stream_record(self) -> IntArray:
        reference, sliding = self._stream_reference()
        fitted = (reference, self.k_distance_, self.lrd_)
        kind = KIND_LOF_SLIDING if sliding else KIND_LOF
        return member_record(self, kind, fitted, reference.shape, int(self.n_neighbors))

    # saved row by row under ``reference_`` (the file format does not depend on the layout)
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super().state_arrays()
        arrays["reference_"] = np.ascontiguousarray(arrays.pop("reference_t_").T)
        return arrays

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        own = dict(arrays)
        own["reference_t_"] = np.ascontiguousarray(own.pop("reference_").T)
        super().load_state(own, meta)


@njit(cache=True, nogil=True)
def _lof_stream_many(
    packed: tuple[Any, ...], addrs: IntArray, shapes: IntArray, sliding: BoolArray, ks: IntArray
) -> FloatArray:  # pragma: no cover
    """``_lof_stream`` of every series of ``Packed.args()`` (fitted arrays by address)."""
    out = np.empty(packed[2][-1])
    for s in range(len(ks)):
        x, mean, std, window, znorm, lo, hi = series_input(s, packed)
        reference = view(addrs[s, 0], shapes[s, 0], shapes[s, 1])
        n_ref = shapes[s, 1] - (window - 1 if sliding[s] else 0)
        k_distance, lrd = view(addrs[s, 1], 1, n_ref)[0], view(addrs[s, 2], 1, n_ref)[0]
        args = (reference, sliding[s], k_distance, lrd, ks[s])
        out[lo:hi] = _lof_stream(x, mean, std, window, znorm, *args)
    return out


@njit(cache=True, nogil=True)
def _lof_stream(
    x: FloatArray,
    mean: FloatArray,
    std: FloatArray,
    window: int,
    znorm: bool,
    reference: FloatArray,
    sliding: bool,
    k_distance: FloatArray,
    lrd: FloatArray,
    k: int,
) -> FloatArray:  # pragma: no cover
    """Scores of every point of ``x`` (NaN without a full window or with NaN in it) against
    ``reference`` (``lof_of_row``: transposed windows, or with ``sliding`` their series)."""
    out = np.full(x.shape[0], np.nan)
    z = standardize(x, mean, std)
    row = np.empty(window * x.shape[1])
    scratch = np.empty(k_distance.shape[0])
    dist = np.empty(k)
    idx: IntArray = np.empty(k, dtype=np.int64)
    for end in range(window - 1, x.shape[0]):
        if feature_row(z, end, window, znorm, row):
            fitted = (k_distance, lrd, k, scratch, dist, idx)
            out[end] = lof_of_row(row, reference, sliding, *fitted)
    return out
