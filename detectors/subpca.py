"""Sub-PCA: reconstruction error of sliding windows against the training windows' PCA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from anomalyd.detectors._kernels import KIND_SPE, Records, record, score_records
from anomalyd.detectors._windows import WindowDetector, window_param
from anomalyd.detectors.base import FloatArray
from anomalyd.detectors.params import param


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
    window: int = window_param(64, minimum=2)
    n_components: float = param(
        default=0.9,
        doc="fraction of the training variance the principal subspace explains",
        minimum=0.01,
        maximum=0.999,
    )

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
        return score_records(items)

    def stream_record(self) -> Records:
        dims = self.components_.shape
        return record(self, KIND_SPE, (self.center_, self.components_), dims)
