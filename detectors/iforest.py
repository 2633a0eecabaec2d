"""Isolation Forest on sliding windows, in numpy + numba (trees stored as flat arrays)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.detectors._windows import WindowDetector
from anomalyd.detectors.base import FloatArray
from anomalyd.detectors.params import param

_EULER = 0.5772156649015329
IntArray = npt.NDArray[np.integer]


@njit(cache=True, nogil=True)
def _avg_path(n: float) -> float:  # pragma: no cover
    """c(n): average path length of an unsuccessful search in a binary search tree of n items."""
    if n <= 1.0:
        return 0.0
    if n <= 2.0:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + _EULER) - 2.0 * (n - 1.0) / n


@njit(cache=True, nogil=True)
def _pick_split(
    x: FloatArray, rows: IntArray, u_feature: float, u_threshold: float
) -> tuple[int, float]:  # pragma: no cover
    """Random feature among those not constant on ``rows`` and a uniform threshold in its range.

    Returns (-1, 0.0) when every feature is constant (the node becomes a leaf).
    """
    lo = np.full(x.shape[1], np.inf)
    hi = np.full(x.shape[1], -np.inf)
    for r in rows:
        for f in range(x.shape[1]):
            lo[f] = min(lo[f], x[r, f])
            hi[f] = max(hi[f], x[r, f])
    usable = np.flatnonzero(hi > lo)
    if usable.size == 0:
        return -1, 0.0
    f = usable[min(int(u_feature * usable.size), usable.size - 1)]
    thr = lo[f] + u_threshold * (hi[f] - lo[f])
    return f, (thr if thr < hi[f] else lo[f])


@njit(cache=True, nogil=True)
def _grow(
    x: FloatArray,
    rows: IntArray,
    rand: FloatArray,
    max_depth: int,
    feature: IntArray,
    threshold: FloatArray,
    left: IntArray,
    leaf: FloatArray,
) -> None:  # pragma: no cover
    """Grow one isolation tree on ``x[rows]`` into flat node arrays (node 0 is the root).

    Node ``i`` splits on ``feature[i]`` (``-1``: leaf) at ``threshold[i]``; its children are
    ``left[i]`` (values <= threshold) and ``left[i] + 1``. A leaf holds its path length:
    depth + c(points that reached it). ``rand[i]`` are node ``i``'s two uniform draws.
    """
    stack = [(0, 0, rows.size, 0)]
    n_nodes = 1
    while stack:
        node, start, stop, depth = stack.pop()
        part = rows[start:stop]
        f, thr = -1, 0.0
        if stop - start > 1 and depth < max_depth:
            f, thr = _pick_split(x, part, rand[node, 0], rand[node, 1])
        feature[node] = f
        if f < 0:
            leaf[node] = depth + _avg_path(float(stop - start))
            continue
        goes_left = x[part, f] <= thr
        rows[start:stop] = np.concatenate((part[goes_left], part[~goes_left]))
        mid = start + int(goes_left.sum())
        threshold[node], left[node] = thr, n_nodes
        stack.append((n_nodes, start, mid, depth + 1))
        stack.append((n_nodes + 1, mid, stop, depth + 1))
        n_nodes += 2


@njit(cache=True, nogil=True)
def _mean_path_length(
    x: FloatArray, feature: IntArray, threshold: FloatArray, left: IntArray, leaf: FloatArray
) -> FloatArray:  # pragma: no cover
    """E[h(x)]: path length of each row of ``x`` averaged over the trees."""
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        total = 0.0
        for t in range(feature.shape[0]):
            node = 0
            while feature[t, node] >= 0:
                go_right = x[i, feature[t, node]] > threshold[t, node]
                node = left[t, node] + (1 if go_right else 0)
            total += leaf[t, node]
        out[i] = total / feature.shape[0]
    return out


class IsolationForestDetector(WindowDetector):
    """Isolation Forest (Liu et al. 2008) on sliding windows of all channels.

    Score of point ``t`` = ``2 ** (-E[h(w)] / c(psi))`` for the window ``w`` ending at ``t``:
    ``E[h]`` is the mean depth at which random axis-parallel cuts isolate ``w`` and ``c(psi)``
    the mean depth expected for a random point among ``psi`` training windows. It lies in
    (0, 1]: about 0.5 or below for ordinary windows, towards 1 for windows that random cuts
    isolate quickly (anomalies). Each tree grows on ``max_samples`` training windows drawn
    without replacement (the classic 256) up to depth ``ceil(log2(psi))``, like scikit-learn.

    Inputs are standardised per channel with the training mean/std; ``normalize="window"``
    also z-normalises each window per channel, so only its shape counts (not level or scale).
    """

    name = "iforest"
    n_trees: int = param(default=100, doc="trees in the forest", minimum=1)
    max_samples: int = param(default=256, doc="training windows drawn for each tree", minimum=2)
    seed: int = param(
        default=0, doc="random seed of the trees (same seed => same forest)", minimum=0
    )

    def _fit_windows(self, w: FloatArray) -> None:
        psi = min(int(self.max_samples), len(w))
        n_nodes = 2 * psi - 1
        rng = np.random.default_rng(self.seed)
        self.feature_ = np.full((self.n_trees, n_nodes), -1, dtype=np.int32)
        self.threshold_ = np.zeros((self.n_trees, n_nodes))
        self.left_ = np.zeros((self.n_trees, n_nodes), dtype=np.int32)
        self.leaf_ = np.zeros((self.n_trees, n_nodes))
        max_depth = int(np.ceil(np.log2(max(psi, 2))))
        for t in range(self.n_trees):
            rows = rng.choice(len(w), size=psi, replace=False).astype(np.int64)
            rand = rng.random((n_nodes, 2))
            tree = (self.feature_[t], self.threshold_[t], self.left_[t], self.leaf_[t])
            _grow(w, rows, rand, max_depth, *tree)
        self.norm_ = float(_avg_path(float(psi)))

    def _score_windows(self, w: FloatArray) -> FloatArray:
        h = _mean_path_length(
            self._features(w), self.feature_, self.threshold_, self.left_, self.leaf_
        )
        out: FloatArray = 2.0 ** (-h / self.norm_)
        return out
