"""k-means on windows: distance of each window to the nearest centroid of the training windows."""

from __future__ import annotations

import warnings

import numpy as np

from anomalyd.detectors._nearest import NearestWindowDetector
from anomalyd.detectors._windows import window_param
from anomalyd.detectors.base import FloatArray
from anomalyd.detectors.params import param


class WindowKMeans(NearestWindowDetector):
    """k-means clustering of the training windows; score = distance to the nearest centroid.

    The score of point ``t`` is the Euclidean distance from the window ending at ``t`` to the
    nearest of ``n_clusters`` centroids that scikit-learn's ``KMeans`` (k-means++, seeded by
    ``seed``) finds among the training windows: small for a window like a recurring normal
    pattern, large for a shape the training span never showed. Units: training standard
    deviations (per channel), over the window. With ``normalize="window"`` each window is
    z-normalised first, so clusters are shapes (the KMeansAD detector of Yairi et al. and
    TSB-AD, scored causally here: the window that ends at each point, not an average over
    every window that holds it).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_centroids, window * n_channels)
        The centroids (``n_centroids`` = ``n_clusters``, or the number of training windows
        when there are fewer).
    """

    name = "kmeans"
    window: int = window_param(64, minimum=2)
    n_clusters: int = param(default=20, doc="centroids fitted (at most one per window)", minimum=1)
    seed: int = param(default=0, doc="seed of k-means++ initialisation", minimum=0)

    def _fit_windows(self, w: FloatArray) -> None:
        from sklearn.cluster import KMeans

        k = min(int(self.n_clusters), len(w))
        model = KMeans(n_clusters=k, n_init=1, random_state=int(self.seed))
        with warnings.catch_warnings():  # fewer distinct windows than centroids: duplicates
            warnings.simplefilter("ignore")
            model.fit(w)
        self.cluster_centers_ = np.ascontiguousarray(model.cluster_centers_, dtype=np.float64)

    def _references(self) -> FloatArray:
        return self.cluster_centers_
