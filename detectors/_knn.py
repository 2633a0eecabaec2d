"""Exact Euclidean k-nearest neighbours and Local Outlier Factor on any vectors.

``knn`` is the one entry point other detectors import (LOF on raw windows, THEMIS' LOF on
encoder embeddings, APRE's mean-shift target). Two exact implementations live here:

* ``knn_brute``: a numba loop over every (query, reference) pair with early abandoning;
* ``knn_gemm``: blocked ``||a||^2 + ||b||^2 - 2ab`` through BLAS, ``argpartition`` for a few
  more candidates than needed, exact distances recomputed for the candidates, and a brute-force
  fallback for the rare rows whose candidate set could be wrong through rounding.

Both return the same neighbours and the same (bit-identical) distances; ``knn`` uses the
faster one (the GEMM path: see ``benchmarks/knn_speed.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.detectors.base import FloatArray

IntArray = npt.NDArray[np.int64]

_BLOCK_BYTES = 4 * 2**20  # one block of approximate distances: small enough to stay in cache
_LOF_EPS = 1e-10  # the same guard against 0 reachability as scikit-learn's LOF


@njit(cache=True, nogil=True)
def _sq_dist(a: FloatArray, b: FloatArray, bound: float) -> float:  # pragma: no cover
    """Squared distance, summed left to right; stops early once it exceeds ``bound``."""
    acc = 0.0
    for j in range(a.shape[0]):
        diff = a[j] - b[j]
        acc += diff * diff
        if acc > bound:
            return acc
    return acc


@njit(cache=True, nogil=True)
def _brute_rows(
    query: FloatArray, reference: FloatArray, k: int, self_offset: int
) -> tuple[FloatArray, IntArray]:  # pragma: no cover
    """k smallest squared distances per query row; ties go to the lower reference index.

    ``self_offset >= 0`` skips reference row ``i + self_offset`` for query row ``i``.
    """
    nq, nr = query.shape[0], reference.shape[0]
    dist = np.full((nq, k), np.inf)
    idx = np.full((nq, k), -1, dtype=np.int64)
    for i in range(nq):
        for j in range(nr):
            if j == i + self_offset:
                continue
            d2 = _sq_dist(query[i], reference[j], dist[i, k - 1])
            if d2 < dist[i, k - 1]:
                pos = k - 1
                while pos > 0 and dist[i, pos - 1] > d2:
                    dist[i, pos] = dist[i, pos - 1]
                    idx[i, pos] = idx[i, pos - 1]
                    pos -= 1
                dist[i, pos] = d2
                idx[i, pos] = j
    return dist, idx


@njit(cache=True, nogil=True)
def _exact_sq(
    query: FloatArray, reference: FloatArray, cand: IntArray
) -> FloatArray:  # pragma: no cover
    """Squared distances from query row ``i`` to reference rows ``cand[i]`` (same sum order)."""
    out = np.empty(cand.shape)
    for i in range(cand.shape[0]):
        for c in range(cand.shape[1]):
            out[i, c] = _sq_dist(query[i], reference[cand[i, c]], np.inf)
    return out


def _check(
    query: npt.ArrayLike, reference: npt.ArrayLike, k: int, exclude_self: bool
) -> tuple[FloatArray, FloatArray]:
    q = np.ascontiguousarray(query, dtype=np.float64)
    r = np.ascontiguousarray(reference, dtype=np.float64)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ValueError(
            "`query` and `reference` must be 2-D arrays with the same number of columns. "
            f"Got shapes {q.shape} and {r.shape} instead."
        )
    if exclude_self and len(q) != len(r):
        raise ValueError("`exclude_self=True` needs `query` to be the reference set itself.")
    available = len(r) - int(exclude_self)
    if not 1 <= k <= available:
        raise ValueError(f"`k` must be in [1, {available}] for this reference set. Got {k}.")
    return q, r


def knn_brute(
    query: npt.ArrayLike, reference: npt.ArrayLike, k: int, *, exclude_self: bool = False
) -> tuple[FloatArray, IntArray]:
    """``knn`` by a numba loop over all pairs (the slow, obviously correct reference)."""
    q, r = _check(query, reference, k, exclude_self)
    d2, idx = _brute_rows(q, r, k, 0 if exclude_self else -len(q) - 1)
    return np.sqrt(d2), idx


def _sort_rows(d2: FloatArray, cand: IntArray, k: int) -> tuple[FloatArray, IntArray]:
    """First ``k`` of each row ordered by (distance, index)."""
    order = np.lexsort((cand, d2), axis=-1)[:, :k]
    return np.take_along_axis(d2, order, 1), np.take_along_axis(cand, order, 1)


def _gemm_block(
    q: FloatArray, r: FloatArray, rr: FloatArray, k: int, start: int, exclude_self: bool
) -> tuple[FloatArray, IntArray]:
    """Exact k nearest neighbours for one block of queries (rows ``start ..`` of the query)."""
    qq = np.einsum("ij,ij->i", q, q)
    approx = q @ r.T
    approx *= -2.0
    approx += qq[:, None]
    approx += rr[None, :]
    np.maximum(approx, 0.0, out=approx)
    rows = np.arange(len(q))
    if exclude_self:
        approx[rows, rows + start] = np.inf
    n_ok = r.shape[0] - int(exclude_self)
    n_cand = min(n_ok, k + max(4, k // 4))
    cand = np.argpartition(approx, n_cand - 1, axis=1)[:, :n_cand].astype(np.int64)
    exact = _exact_sq(q, r, cand)
    d2, idx = _sort_rows(exact, cand, k)
    if n_cand < n_ok:  # a row is safe when no non-candidate can beat its k-th distance
        err = (2 * q.shape[1] + 8) * np.finfo(np.float64).eps * (qq + rr.max())
        worst_outside = approx[rows, cand[:, -1]] - err
        redo = np.flatnonzero(worst_outside <= d2[:, -1])
        for i in redo:
            skip = int(start + i) if exclude_self else -r.shape[0] - 1
            row_d2, row_idx = _brute_rows(q[i : i + 1], r, k, skip)
            d2[i], idx[i] = row_d2[0], row_idx[0]
    return d2, idx


def knn_gemm(
    query: npt.ArrayLike, reference: npt.ArrayLike, k: int, *, exclude_self: bool = False
) -> tuple[FloatArray, IntArray]:
    """``knn`` through blocked matrix products (BLAS), exact after re-ranking."""
    q, r = _check(query, reference, k, exclude_self)
    rr = np.einsum("ij,ij->i", r, r)
    block = max(16, _BLOCK_BYTES // (8 * max(1, len(r))))
    d2 = np.empty((len(q), k))
    idx = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), block):
        stop = min(start + block, len(q))
        d2[start:stop], idx[start:stop] = _gemm_block(q[start:stop], r, rr, k, start, exclude_self)
    return np.sqrt(d2), idx


def knn(
    query: npt.ArrayLike, reference: npt.ArrayLike, k: int, *, exclude_self: bool = False
) -> tuple[FloatArray, IntArray]:
    """Exact Euclidean k nearest neighbours of each ``query`` row among ``reference`` rows.

    Args:
        query: ``(n_query, dim)`` array.
        reference: ``(n_reference, dim)`` array.
        k: neighbours per query row, ``1 <= k <= n_reference`` (``- 1`` with ``exclude_self``).
        exclude_self: ``query`` *is* ``reference`` (same rows, same order): row ``i`` never
            gets itself (index ``i``) as a neighbour. Duplicates at other indices still count,
            like scikit-learn's ``kneighbors()`` without ``X``.

    Returns:
        ``(distances, indices)``, both ``(n_query, k)``: Euclidean distances in increasing
        order (ties broken by the lower reference index) and the int64 reference row indices.
        Results are exact and do not depend on how queries are batched.
    """
    return knn_gemm(query, reference, k, exclude_self=exclude_self)


def lof_fit(reference: npt.ArrayLike, k: int) -> tuple[FloatArray, FloatArray]:
    """Fit Local Outlier Factor on ``reference`` rows (any vectors: windows, embeddings).

    Returns ``(k_distance, lrd)`` per reference row: the distance to its k-th nearest other
    reference row, and its local reachability density, exactly as scikit-learn's
    ``LocalOutlierFactor`` computes them. Needs ``k < len(reference)``.
    """
    dist, idx = knn(reference, reference, k, exclude_self=True)
    k_distance = np.ascontiguousarray(dist[:, -1])
    reach = np.maximum(dist, k_distance[idx])
    return k_distance, 1.0 / (reach.mean(axis=1) + _LOF_EPS)


#: at most this many query rows, ``lof_score`` runs one compiled brute-force pass (streaming:
#: a few new windows per series) instead of the blocked GEMM with its fixed per-call cost
SMALL_QUERY = 16


@njit(cache=True, nogil=True)
def _lof_value(
    d2: FloatArray, idx: IntArray, k_distance: FloatArray, lrd: FloatArray, k: int
) -> float:  # pragma: no cover
    """LOF of one query from its ``k`` squared neighbour distances and neighbour indices."""
    reach, dens = 0.0, 0.0
    for j in range(k):
        reach += max(np.sqrt(d2[j]), k_distance[idx[j]])
        dens += lrd[idx[j]]
    return (dens / k) * (reach / k + _LOF_EPS)


@njit(cache=True, nogil=True)
def _lof_small(
    query: FloatArray, reference: FloatArray, k_distance: FloatArray, lrd: FloatArray, k: int
) -> FloatArray:  # pragma: no cover
    """``lof_score`` in one compiled pass: exact brute-force neighbours, then the LOF."""
    d2, idx = _brute_rows(query, reference, k, -query.shape[0] - 1)
    out = np.empty(query.shape[0])
    for i in range(query.shape[0]):
        out[i] = _lof_value(d2[i], idx[i], k_distance, lrd, k)
    return out


@njit(cache=True, nogil=True)
def sq_dists_t(
    row: FloatArray, reference_t: FloatArray, out: FloatArray
) -> None:  # pragma: no cover
    """``out[j]`` = squared distance of ``row`` to column ``j`` of ``reference_t`` (dim, n).

    The sum over dimensions runs left to right like ``_sq_dist`` (bit-identical distances);
    the inner loops run along the references, so they vectorise, and take four dimensions per
    pass so ``out`` is loaded and stored once per four terms.
    """
    out[:] = 0.0
    dim = reference_t.shape[0]
    tail = dim - dim % 4
    for c in range(0, tail, 4):
        r = reference_t
        _add_four(row, c, r[c], r[c + 1], r[c + 2], r[c + 3], out)
    for c in range(tail, dim):
        _add_one(row[c], reference_t[c], out)


@njit(cache=True, nogil=True)
def sq_dists_sliding(
    row: FloatArray, series_t: FloatArray, out: FloatArray
) -> None:  # pragma: no cover
    """``sq_dists_t`` for a reference of consecutive windows of one series, kept as the series
    itself (``series_t``: channels x points): window ``j`` is points ``j .. j + window - 1``
    and its value ``d`` (point ``d // channels``, channel ``d % channels``) is
    ``series_t[d % channels, j + d // channels]``. Same values, same sums: bit-identical, and
    a few KiB to read instead of ``window`` times that."""
    out[:] = 0.0
    dim, n = row.shape[0], out.shape[0]
    tail = dim - dim % 4
    for c in range(0, tail, 4):
        r0, r1 = _slide(series_t, c, n), _slide(series_t, c + 1, n)
        r2, r3 = _slide(series_t, c + 2, n), _slide(series_t, c + 3, n)
        _add_four(row, c, r0, r1, r2, r3, out)
    for c in range(tail, dim):
        _add_one(row[c], _slide(series_t, c, n), out)


@njit(cache=True, nogil=True, inline="always")
def _slide(series_t: FloatArray, d: int, n: int) -> FloatArray:  # pragma: no cover
    """Value ``d`` of windows ``0 .. n - 1`` (see ``sq_dists_sliding``)."""
    channels = series_t.shape[0]
    start = d // channels
    return series_t[d % channels, start : start + n]


@njit(cache=True, nogil=True, inline="always")
def _add_four(
    row: FloatArray,
    c: int,
    r0: FloatArray,
    r1: FloatArray,
    r2: FloatArray,
    r3: FloatArray,
    out: FloatArray,
) -> None:  # pragma: no cover
    """Add the squared differences of dimensions ``c .. c + 3`` (references' values ``r0 ..
    r3``) to ``out``, in that order."""
    v0, v1, v2, v3 = row[c], row[c + 1], row[c + 2], row[c + 3]
    for j in range(out.shape[0]):
        d0, d1, d2, d3 = v0 - r0[j], v1 - r1[j], v2 - r2[j], v3 - r3[j]
        out[j] = out[j] + d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3


@njit(cache=True, nogil=True, inline="always")
def _add_one(value: float, column: FloatArray, out: FloatArray) -> None:  # pragma: no cover
    for j in range(out.shape[0]):
        diff = value - column[j]
        out[j] += diff * diff


def sliding_series(reference_t: FloatArray, channels: int) -> FloatArray | None:
    """``reference_t`` (dim, n) as the series ``sq_dists_sliding`` reads, when its columns
    are consecutive windows of one series (training windows none dropped or thinned); else
    None. Checked value by value, so the distances stay exactly the same."""
    dim, n = reference_t.shape
    if dim <= channels or n < 2:
        return None
    if not np.array_equal(reference_t[channels:, :-1], reference_t[:-channels, 1:]):
        return None
    width = dim // channels
    out = np.empty((channels, n + width - 1))
    out[:, :n] = reference_t[:channels]
    out[:, n:] = reference_t[channels:, -1].reshape(width - 1, channels).T
    return out


@njit(cache=True, nogil=True)
def select_k(d2: FloatArray, k: int, dist: FloatArray, idx: IntArray) -> None:  # pragma: no cover
    """The ``k`` smallest of ``d2`` into ``dist``/``idx``, ascending; ties to the lower index."""
    dist[:] = np.inf
    idx[:] = -1
    for j in range(d2.shape[0]):
        value = d2[j]
        if value < dist[k - 1]:
            pos = k - 1
            while pos > 0 and dist[pos - 1] > value:
                dist[pos] = dist[pos - 1]
                idx[pos] = idx[pos - 1]
                pos -= 1
            dist[pos] = value
            idx[pos] = j


@njit(cache=True, nogil=True)
def lof_of_row(
    row: FloatArray,
    reference: FloatArray,
    sliding: bool,
    k_distance: FloatArray,
    lrd: FloatArray,
    k: int,
    scratch: FloatArray,
    dist: FloatArray,
    idx: IntArray,
) -> float:  # pragma: no cover
    """LOF of one vector against a transposed reference, or with ``sliding`` the series of
    consecutive windows it holds (``scratch``: ``n_reference`` floats, ``dist``/``idx``:
    ``k`` each). The same neighbours and distances as ``_lof_small``."""
    if sliding:
        sq_dists_sliding(row, reference, scratch)
    else:
        sq_dists_t(row, reference, scratch)
    select_k(scratch, k, dist, idx)
    return _lof_value(dist, idx, k_distance, lrd, k)


def lof_score(
    query: npt.ArrayLike, reference: FloatArray, k_distance: FloatArray, lrd: FloatArray, k: int
) -> FloatArray:
    """Local Outlier Factor of each ``query`` row against a reference fitted by ``lof_fit``.

    About 1 for a point as dense as its neighbours; larger = sparser than its neighbourhood,
    i.e. more anomalous. Equals ``-LocalOutlierFactor(novelty=True).score_samples(query)``.
    Up to ``SMALL_QUERY`` rows take the compiled brute-force path (same neighbours, same
    distances; the means are summed in order, so results may differ in the last bits).
    """
    q, r = _check(query, reference, k, False)
    if len(q) <= SMALL_QUERY:
        return _lof_small(q, r, k_distance, lrd, k)
    dist, idx = knn(q, r, k)
    reach = np.maximum(dist, k_distance[idx])
    query_lrd = 1.0 / (reach.mean(axis=1) + _LOF_EPS)
    out: FloatArray = lrd[idx].mean(axis=1) / query_lrd
    return out
