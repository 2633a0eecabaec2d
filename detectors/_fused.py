"""The ensemble's members and their combination in one compiled call per streaming batch.

Streaming sends a few new points of hundreds of series per batch. Scoring the ensemble member
class by member class costs Python work per series and member (packing, slicing, combining),
and that work holds the GIL, so two scoring threads mostly wait for each other. Here every
series of a batch goes through all its members and the combination in one call that releases
the GIL: each member is a record (``_ragged.member_record``: its kernel kind and the addresses
of its fitted arrays), and the per-member kernels are the ones the member classes use for their
own streaming pass, so the scores are the same, bit for bit.

Developers: numba's on-disk cache of a kernel is keyed by its own file only, so after editing a
member kernel (``lof.py``, ``subpca.py``, ``apre.py``, ``_knn.py``, ``_windows.py``) delete the
``*.nbi``/``*.nbc`` files under ``detectors/__pycache__`` (a fresh install or clone has none).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from anomalyd.detectors._ragged import (
    KIND_LOF,
    KIND_LOF_SLIDING,
    KIND_SPE,
    RECORD_FIELDS,
    IntArray,
    view,
    view_int,
)
from anomalyd.detectors.apre import _mse_stream
from anomalyd.detectors.base import FloatArray
from anomalyd.detectors.lof import _lof_stream
from anomalyd.detectors.subpca import _spe_stream


@njit(cache=True, nogil=True)
def _member_scores(rec: IntArray, x: FloatArray) -> FloatArray:  # pragma: no cover
    """Scores of every point of ``x`` by the member described by ``rec``."""
    kind, window, znorm = rec[0], rec[1], rec[2] != 0
    mean, std = view(rec[4], 1, x.shape[1])[0], view(rec[5], 1, x.shape[1])[0]
    rows, cols = rec[9], rec[10]
    if kind in (KIND_LOF, KIND_LOF_SLIDING):
        sliding = kind == KIND_LOF_SLIDING
        n_ref = cols - (window - 1 if sliding else 0)
        reference = view(rec[6], rows, cols)
        k_distance, lrd = view(rec[7], 1, n_ref)[0], view(rec[8], 1, n_ref)[0]
        fitted = (reference, sliding, k_distance, lrd, rec[11])
        return _lof_stream(x, mean, std, window, znorm, *fitted)
    if kind == KIND_SPE:
        center, components = view(rec[6], 1, cols)[0], view(rec[7], rows, cols)
        return _spe_stream(x, mean, std, window, znorm, center, components)
    return _mse_stream(x, mean, std, window, view(rec[6], 1, rows)[0], view_int(rec[7], cols))


@njit(cache=True, nogil=True)
def ensemble_stream_many(
    packed: tuple[FloatArray, IntArray, IntArray, IntArray],
    records: IntArray,
    members_at: IntArray,
    center_scale: FloatArray,
) -> FloatArray:  # pragma: no cover
    """Ensemble scores of every point of every series.

    ``packed``: (flat inputs, their offsets, output offsets, channels) per series; series ``s``
    has members ``members_at[s] .. members_at[s + 1]`` (rows of ``records``, their training
    median and scale in ``center_scale``). The same arithmetic as ``ensemble._combine``.
    """
    flat, starts, points_at, channels = packed
    out = np.empty(points_at[-1])
    for s in range(len(channels)):
        lo, hi = points_at[s], points_at[s + 1]
        x = flat[starts[s] : starts[s + 1]].reshape((hi - lo, channels[s]))
        total = np.zeros(hi - lo)
        for m in range(members_at[s], members_at[s + 1]):
            skip = records[m, 3]
            raw = _member_scores(records[m], np.ascontiguousarray(x[skip:]))
            center, scale = center_scale[m, 0], center_scale[m, 1]
            total[:skip] = np.nan
            for t in range(raw.shape[0]):
                total[skip + t] += (raw[t] - center) / scale
        out[lo:hi] = total / (members_at[s + 1] - members_at[s])
    return out


@functools.cache
def warm() -> None:
    """Load (or compile) ``ensemble_stream_many`` once per process, with the argument types
    streaming uses, so the first scored batch does not pay it (~30 ms cached, seconds cold)."""
    empty_i = np.zeros(1, dtype=np.int64)
    packed = (np.empty(0), empty_i, empty_i, np.empty(0, dtype=np.int64))
    records = np.empty((0, RECORD_FIELDS), dtype=np.int64)
    ensemble_stream_many(packed, records, empty_i, np.empty((0, 2)))
