"""Sub-PCA: reconstruction error of sliding windows against the training windows' PCA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from numba import njit

from anomalyd.detectors._ragged import (
    KIND_SPE,
    IntArray,
    Packed,
    addresses,
    member_record,
    series_input,
    view,
)
from anomalyd.detectors._windows import (
    MAX_TRAIN_WINDOWS,
    NORMALIZE,
    WindowDetector,
    feature_row,
    standardize,
    window_param,
)
from anomalyd.detectors.base import FloatArray, Param


def n_components_for(explained_ratio: FloatArray, fraction: float) -> int:
    """Fewest leading components whose explained variance ratio reaches ``fraction``.

    The rule of scikit-learn's ``PCA(n_components=fraction, svd_solver="full")``.
    """
    cumulative = np.cumsum(explained_ratio)
    return int(np.searchsorted(cumulative, fraction, side="right")) + 1


class SubPCA(WindowDetector):
    """PCA on the training windows; score = squared distance of a window to their subspace.

    The principal subspace is spanned by the fewest components that explain ``n_components``
    (a fraction) of the training windows' variance, capped at ``dim - 1`` so a residual
    direction is always left. The score of point ``t`` is the squared Euclidean norm of the
    part of the window ending at ``t`` (centred on the training mean) that those components
    cannot reconstruct (the SPE / Q statistic): 0 for a window the normal patterns fully
    explain, large for a window with a shape the training span never showed. Units: squared
    training standard deviations, summed over the window.

    TSB-AD's (pyod's) PCA instead sums distances to the component vectors weighted by
    1 / explained variance ratio; the plain residual here is the textbook Sub-PCA score and
    equals ``||x - pca.inverse_transform(pca.transform(x))||^2`` of scikit-learn.

    Inputs are standardised per channel with the training mean/std; ``normalize="window"``
    also z-normalises each window per channel, so only its shape counts (not level or scale).
    """

    name = "subpca"
    params = (
        window_param(64, minimum=2),
        Param(
            "n_components",
            float,
            0.9,
            "fraction of the training variance the principal subspace explains",
            minimum=0.01,
            maximum=0.999,
        ),
        NORMALIZE,
        MAX_TRAIN_WINDOWS,
    )

    def __init__(
        self,
        *,
        window: int = 64,
        n_components: float = 0.9,
        normalize: str = "none",
        max_train_windows: int = 5000,
    ) -> None:
        self.window = window
        self.n_components = n_components
        self.normalize = normalize
        self.max_train_windows = max_train_windows

    def _fit_windows(self, w: FloatArray) -> None:
        self.center_ = w.mean(axis=0)
        _, sing, vt = np.linalg.svd(w - self.center_, full_matrices=False)
        var = sing**2
        ratio = var / var.sum() if var.sum() > 0 else np.ones_like(var) / len(var)
        k = min(n_components_for(ratio, float(self.n_components)), len(ratio), w.shape[1] - 1)
        self.components_ = np.ascontiguousarray(vt[:k])

    def _score_windows(self, w: FloatArray) -> FloatArray:
        centred = self._features(w) - self.center_
        residual = centred - (centred @ self.components_.T) @ self.components_
        out: FloatArray = np.einsum("ij,ij->i", residual, residual)
        return out

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        packed = Packed.of(items)
        fitted = [(det, det.center_, det.components_) for det, _ in items]
        addrs = np.array([addresses(*f) for f in fitted], dtype=np.int64).reshape(-1, 2)
        shapes = np.array([c.shape for _, _, c in fitted], dtype=np.int64).reshape(-1, 2)
        out = _spe_stream_many(packed.args(), addrs, shapes)
        return packed.split(out)

    def stream_record(self) -> IntArray:
        dims = self.components_.shape
        return member_record(self, KIND_SPE, (self.center_, self.components_), dims)


@njit(cache=True, nogil=True)
def _spe_stream_many(
    packed: tuple[Any, ...], addrs: IntArray, shapes: IntArray
) -> FloatArray:  # pragma: no cover
    """``_spe_stream`` of every series of ``Packed.args()`` (fitted arrays by address)."""
    out = np.empty(packed[2][-1])
    for s in range(len(addrs)):
        x, mean, std, window, znorm, lo, hi = series_input(s, packed)
        n_comp, dim = shapes[s, 0], shapes[s, 1]
        center, components = view(addrs[s, 0], 1, dim)[0], view(addrs[s, 1], n_comp, dim)
        out[lo:hi] = _spe_stream(x, mean, std, window, znorm, center, components)
    return out


@njit(cache=True, nogil=True)
def _spe_stream(
    x: FloatArray,
    mean: FloatArray,
    std: FloatArray,
    window: int,
    znorm: bool,
    center: FloatArray,
    components: FloatArray,
) -> FloatArray:  # pragma: no cover
    """``_score_windows`` of every window of ``x`` in one pass (loops instead of BLAS: equal
    up to rounding). NaN without a full window or with NaN in it."""
    out = np.full(x.shape[0], np.nan)
    z = standardize(x, mean, std)
    row = np.empty(center.shape[0])
    proj = np.empty(components.shape[0])
    for end in range(window - 1, x.shape[0]):
        if not feature_row(z, end, window, znorm, row):
            continue
        row -= center
        for c in range(components.shape[0]):
            acc = 0.0
            for j in range(row.shape[0]):
                acc += row[j] * components[c, j]
            proj[c] = acc
        total = 0.0
        for j in range(row.shape[0]):
            rec = 0.0
            for c in range(components.shape[0]):
                rec += proj[c] * components[c, j]
            diff = row[j] - rec
            total += diff * diff
        out[end] = total
    return out
