"""The streaming-kernel layer: one record type, the window kernels, and one loop over series.

Streaming scores a few new points of hundreds of series per batch. One compiled call per
series pays Python and dispatch costs per series, and every call takes and gives back the GIL.
Here a whole batch goes through one call that releases the GIL:

* A fitted detector with a compiled kernel describes itself as a :data:`RECORD` (its
  ``stream_record()``): the kernel's kind, its window, and the addresses of its channel
  mean/std and fitted arrays (owned and kept alive by the detector, C-contiguous; nothing is
  copied).
* The kernels (``lof_stream``, ``spe_stream``, ``mse_stream``, ``nearest_stream``) score
  every window of one series from those arrays; ``member_scores`` picks one by the record's kind.
* ``stream_many`` is the one loop: every series of a batch through its members, each member's
  scores standardised by its (center, scale) and averaged. A detector class's own streaming
  pass is the case of one member per series with (0, 1), which gives the member's scores bit
  for bit; the ensemble's fused pass has several members per series.

Developers: numba's on-disk cache of a kernel is keyed by its own file only, so after editing
a helper it calls (``_knn.py``, ``_windows.py``) delete the ``*.nbi``/``*.nbc`` files under
``detectors/__pycache__`` (a fresh install or clone has none).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from anomalyd.detectors._knn import lof_of_row
from anomalyd.detectors._ragged import IntArray, addresses_of, cached_on, offsets, view, view_int
from anomalyd.detectors._windows import feature_row, standardize
from anomalyd.detectors.base import FloatArray

#: kinds of kernel a record names
KIND_LOF, KIND_SPE, KIND_MSE, KIND_LOF_SLIDING, KIND_NEAREST = 1, 2, 3, 4, 5
#: one member of a streaming pass. ``array0..2`` are the addresses of the kind's fitted arrays
#: (LOF: reference, k-distances, lrd; SPE: center, components; MSE: weights, layer sizes;
#: NEAREST: centroids) and
#: ``rows``/``cols`` the shape of the first two-dimensional one (MSE: the lengths of the
#: weights and of the sizes); ``k`` is LOF's neighbour count; ``skip`` the leading points of
#: the series the member does not see (set by the ensemble: members with shorter windows).
RECORD = np.dtype(
    [
        (name, np.int64)
        for name in (
            "kind",
            "window",
            "znorm",
            "skip",
            "mean",
            "std",
            "array0",
            "array1",
            "array2",
            "rows",
            "cols",
            "k",
        )
    ]
)
Records = npt.NDArray[np.void]
#: ``stream_many``'s inputs of many series: (flat values, their offsets, output offsets,
#: channels per series)
Packed = tuple[FloatArray, IntArray, IntArray, IntArray]


def record(
    det: Any, kind: int, fitted: Sequence[npt.NDArray[Any]], dims: tuple[int, int], k: int = 0
) -> Records:
    """The record (shape (1,), dtype RECORD) of fitted window detector ``det``: its
    ``mean_``, ``std_``, ``window``, ``normalize`` and ``fitted`` arrays. Cached on ``det``
    while its arrays stay the same objects."""
    arrays = (det.mean_, det.std_, *fitted)

    def make() -> Records:
        addrs = list(addresses_of(arrays)) + [0] * (5 - len(arrays))
        znorm = int(getattr(det, "normalize", "none") == "window")
        return np.array([(kind, int(det.window), znorm, 0, *addrs, *dims, k)], dtype=RECORD)

    return cached_on(det, "_record_of", arrays, make)


@njit(cache=True, nogil=True)
def lof_stream(
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
    """``WindowLOF`` scores of every point of ``x`` (NaN without a full window or with NaN in
    it) against ``reference`` (``lof_of_row``: transposed windows, or with ``sliding`` their
    series)."""
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


@njit(cache=True, nogil=True)
def spe_stream(
    x: FloatArray,
    mean: FloatArray,
    std: FloatArray,
    window: int,
    znorm: bool,
    center: FloatArray,
    components: FloatArray,
) -> FloatArray:  # pragma: no cover
    """``SubPCA`` scores of every window of ``x`` in one pass (loops instead of BLAS: equal
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


@njit(cache=True, nogil=True)
def nearest_distance(row: FloatArray, centers: FloatArray) -> float:  # pragma: no cover
    """Euclidean distance from ``row`` to the nearest row of ``centers``."""
    best = np.inf
    for c in range(centers.shape[0]):
        acc = 0.0
        for j in range(row.shape[0]):
            diff = row[j] - centers[c, j]
            acc += diff * diff
            if acc >= best:  # early abandoning: this center cannot be the nearest
                break
        best = min(best, acc)
    return float(np.sqrt(best))


@njit(cache=True, nogil=True)
def nearest_rows(rows: FloatArray, centers: FloatArray) -> FloatArray:  # pragma: no cover
    """``nearest_distance`` of every row of ``rows``: shape (n_rows,)."""
    out = np.empty(rows.shape[0])
    for i in range(rows.shape[0]):
        out[i] = nearest_distance(rows[i], centers)
    return out


@njit(cache=True, nogil=True)
def nearest_stream(
    x: FloatArray, mean: FloatArray, std: FloatArray, window: int, znorm: bool, centers: FloatArray
) -> FloatArray:  # pragma: no cover
    """``WindowKMeans`` scores of every window of ``x`` in one pass (the same arithmetic as
    ``nearest_rows``). NaN without a full window or with NaN in it."""
    out = np.full(x.shape[0], np.nan)
    z = standardize(x, mean, std)
    row = np.empty(centers.shape[1])
    for end in range(window - 1, x.shape[0]):
        if feature_row(z, end, window, znorm, row):
            out[end] = nearest_distance(row, centers)
    return out


@njit(cache=True, nogil=True)
def mlp_into(
    flat: FloatArray, sizes: IntArray, a: FloatArray, b: FloatArray
) -> None:  # pragma: no cover
    """``forward`` of one network on one row: input in ``a[:sizes[0]]``, output left in ``a``."""
    at = 0
    for layer in range(len(sizes) - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        bias = at + n_in * n_out
        for j in range(n_out):
            b[j] = flat[bias + j]
        tail = n_in - n_in % 4
        for i in range(0, tail, 4):  # four inputs per pass: ``b`` loaded and stored once per four
            h0, h1, h2, h3 = a[i], a[i + 1], a[i + 2], a[i + 3]
            w0 = flat[at + i * n_out : at + (i + 1) * n_out]
            w1 = flat[at + (i + 1) * n_out : at + (i + 2) * n_out]
            w2 = flat[at + (i + 2) * n_out : at + (i + 3) * n_out]
            w3 = flat[at + (i + 3) * n_out : at + (i + 4) * n_out]
            for j in range(n_out):
                b[j] = b[j] + h0 * w0[j] + h1 * w1[j] + h2 * w2[j] + h3 * w3[j]
        for i in range(tail, n_in):
            h = a[i]
            row = at + i * n_out
            for j in range(n_out):
                b[j] += h * flat[row + j]
        last = layer == len(sizes) - 2
        for j in range(n_out):
            a[j] = b[j] if last or b[j] > 0.0 else 0.0
        at = bias + n_out


@njit(cache=True, nogil=True)
def mse_stream(
    x: FloatArray,
    mean: FloatArray,
    std: FloatArray,
    window: int,
    flat: FloatArray,
    sizes: IntArray,
) -> FloatArray:  # pragma: no cover
    """``PlainAE`` scores of every window of ``x`` in one pass (loops instead of batched
    products: equal up to rounding). NaN without a full window or with NaN in it."""
    out = np.full(x.shape[0], np.nan)
    z = standardize(x, mean, std)
    row = np.empty(sizes[0])
    a, b = np.empty(sizes.max()), np.empty(sizes.max())
    for end in range(window - 1, x.shape[0]):
        if not feature_row(z, end, window, False, row):
            continue
        a[: sizes[0]] = row
        mlp_into(flat, sizes, a, b)
        total = 0.0
        for j in range(sizes[0]):
            diff = row[j] - a[j]
            total += diff * diff
        out[end] = total
    return out


@njit(cache=True, nogil=True)
def member_scores(rec: Any, x: FloatArray) -> FloatArray:  # pragma: no cover
    """Scores of every point of ``x`` by the member ``rec`` describes."""
    mean, std = view(rec.mean, 1, x.shape[1])[0], view(rec.std, 1, x.shape[1])[0]
    window, znorm, rows, cols = rec.window, rec.znorm != 0, rec.rows, rec.cols
    if rec.kind == KIND_LOF or rec.kind == KIND_LOF_SLIDING:
        sliding = rec.kind == KIND_LOF_SLIDING
        n_ref = cols - (window - 1 if sliding else 0)
        reference = view(rec.array0, rows, cols)
        k_distance, lrd = view(rec.array1, 1, n_ref)[0], view(rec.array2, 1, n_ref)[0]
        fitted = (reference, sliding, k_distance, lrd, rec.k)
        return lof_stream(x, mean, std, window, znorm, *fitted)
    if rec.kind == KIND_SPE:
        center, components = view(rec.array0, 1, cols)[0], view(rec.array1, rows, cols)
        return spe_stream(x, mean, std, window, znorm, center, components)
    if rec.kind == KIND_NEAREST:
        return nearest_stream(x, mean, std, window, znorm, view(rec.array0, rows, cols))
    weights, sizes = view(rec.array0, 1, rows)[0], view_int(rec.array1, cols)
    return mse_stream(x, mean, std, window, weights, sizes)


@njit(cache=True, nogil=True)
def stream_many(
    packed: Packed,
    records: Records,
    members_at: IntArray,
    center_scale: FloatArray,
) -> FloatArray:  # pragma: no cover
    """Scores of every point of every series: the mean of its members' standardised scores.

    ``packed``: (flat inputs, their offsets, output offsets, channels) per series (``pack``);
    series ``s`` has members ``members_at[s] .. members_at[s + 1]`` (rows of ``records``, their
    center and scale in ``center_scale``, shape (n_members, 2)). The same arithmetic as
    ``ensemble._combine``; with one member of (0, 1) a series gets that member's scores bit
    for bit (``0.0 + (raw - 0.0) / 1.0 == raw`` for every float but -0.0, which no kernel
    gives: their scores are sums of squares or ratios of positive densities).
    """
    flat, starts, points_at, channels = packed
    out = np.empty(points_at[-1])
    for s in range(len(channels)):
        lo, hi = points_at[s], points_at[s + 1]
        x = flat[starts[s] : starts[s + 1]].reshape((hi - lo, channels[s]))
        total = np.zeros(hi - lo)
        for m in range(members_at[s], members_at[s + 1]):
            skip = records[m].skip
            raw = member_scores(records[m], np.ascontiguousarray(x[skip:]))
            center, scale = center_scale[m, 0], center_scale[m, 1]
            total[:skip] = np.nan
            for t in range(raw.shape[0]):
                total[skip + t] += (raw[t] - center) / scale
        out[lo:hi] = total / (members_at[s + 1] - members_at[s])
    return out


def pack(xs: Sequence[FloatArray]) -> tuple[Packed, IntArray]:
    """``stream_many``'s ``packed`` for validated 2-D inputs ``xs``, and the output offsets."""
    points_at = offsets([len(x) for x in xs])
    packed = (
        np.concatenate([x.ravel() for x in xs]).astype(np.float64, copy=False),
        offsets([x.size for x in xs]),
        points_at,
        np.array([x.shape[1] for x in xs], dtype=np.int64),
    )
    return packed, points_at


def split(out: FloatArray, points_at: IntArray) -> list[FloatArray]:
    """Per-series pieces of ``stream_many``'s flat output."""
    at = points_at.tolist()
    return [out[lo:hi] for lo, hi in zip(at[:-1], at[1:], strict=True)]


def score_records(items: Sequence[tuple[Any, FloatArray]]) -> list[FloatArray]:
    """Scores of ``(detector, x)`` pairs whose detectors have a ``stream_record()``, in one
    ``stream_many`` call (one member of center 0 and scale 1 per series)."""
    packed, points_at = pack([x for _, x in items])
    records = np.concatenate([det.stream_record() for det, _ in items])
    members_at = np.arange(len(items) + 1, dtype=np.int64)
    unit = np.tile([0.0, 1.0], (len(items), 1))
    return split(stream_many(packed, records, members_at, unit), points_at)


@functools.cache
def warm() -> None:
    """Load (or compile) ``stream_many`` once per process, with the argument types streaming
    uses, so the first scored batch does not pay it (~30 ms cached, seconds cold)."""
    no_series = np.zeros(1, dtype=np.int64)
    packed = (np.empty(0), no_series, no_series, np.empty(0, dtype=np.int64))
    stream_many(packed, np.zeros(0, dtype=RECORD), no_series, np.empty((0, 2)))
