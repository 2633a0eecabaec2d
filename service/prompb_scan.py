"""A compiled single-pass scanner for the common shape of a remote-write ``WriteRequest``.

Prometheus sends every request in the same shape: each ``TimeSeries`` holds its labels, then its
samples. Reading such a request through the protobuf message objects costs a Python attribute
access per label and per sample; this scanner reads the protobuf wire format once, in compiled
code, into flat arrays:

* per time series: the byte range of its labels (the cache key of the labelset) and the range of
  its samples in the flat arrays;
* per sample: the timestamp (ms, int64) and the value's 64 bits.

It only *accepts* what it fully understands. Anything else (malformed or truncated data, groups,
labels not stored as one run, a time series without labels, or with exemplars, native histograms
or any other field) makes it answer ``None`` and the
caller uses the protobuf parser, which gives the exact error or handles the rare shape. So the
scanner never decides what is valid on its own; the tests check it against the protobuf parser.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

OK = 0
REFUSED = 1

WT_VARINT, WT_I64, WT_LEN, WT_I32 = 0, 1, 2, 5


@njit(cache=True, nogil=True)
def _varint(
    buf: npt.NDArray[np.uint8], i: int, end: int
) -> tuple[np.uint64, int]:  # pragma: no cover
    """The varint at ``buf[i:]`` and the offset after it; offset -1 when malformed."""
    out = np.uint64(0)
    shift = np.uint64(0)
    for _k in range(10):
        if i >= end:
            return np.uint64(0), -1
        b = np.uint64(buf[i])
        i += 1
        out |= (b & np.uint64(0x7F)) << shift
        if b < np.uint64(0x80):
            return out, i
        shift += np.uint64(7)
    return np.uint64(0), -1


@njit(cache=True, nogil=True)
def _skip(buf: npt.NDArray[np.uint8], i: int, end: int, wt: int) -> int:  # pragma: no cover
    """Offset after a field body of wire type ``wt`` at ``i``; -1 when malformed or unknown."""
    if wt == WT_VARINT:
        return _varint(buf, i, end)[1]
    if wt == WT_I64:
        return i + 8 if i + 8 <= end else -1
    if wt == WT_I32:
        return i + 4 if i + 4 <= end else -1
    if wt == WT_LEN:
        n, j = _varint(buf, i, end)
        if j < 0 or n > np.uint64(end - j):
            return -1
        return j + int(n)
    return -1  # groups (3, 4) and reserved wire types: the protobuf parser decides


@njit(cache=True, nogil=True)
def _bits(buf: npt.NDArray[np.uint8], i: int) -> np.uint64:  # pragma: no cover
    """The little-endian 64 bits at ``buf[i:i + 8]``."""
    out = np.uint64(0)
    for k in range(8):
        out |= np.uint64(buf[i + k]) << np.uint64(8 * k)
    return out


@njit(cache=True, nogil=True)
def _sample(
    buf: npt.NDArray[np.uint8],
    i: int,
    end: int,
    ts: npt.NDArray[np.int64],
    bits: npt.NDArray[np.uint64],
    at: int,
) -> bool:  # pragma: no cover
    """Read one ``Sample`` message body ``buf[i:end]`` into slot ``at``; False when refused."""
    t = np.uint64(0)
    v = np.uint64(0)
    while i < end:
        tag, i = _varint(buf, i, end)
        if i < 0 or tag >> np.uint64(3) == 0:
            return False
        field, wt = int(tag >> np.uint64(3)), int(tag & np.uint64(7))
        if field == 1 and wt == WT_I64:
            if i + 8 > end:
                return False
            v = _bits(buf, i)
            i += 8
        elif field == 2 and wt == WT_VARINT:
            t, i = _varint(buf, i, end)
            if i < 0:
                return False
        elif field == 1 or field == 2:
            return False  # a known field with another wire type
        else:
            i = _skip(buf, i, end, wt)
            if i < 0:
                return False
    ts[at] = np.int64(t)
    bits[at] = v
    return True


@njit(cache=True, nogil=True)
def _series(
    buf: npt.NDArray[np.uint8],
    i: int,
    end: int,
    row: npt.NDArray[np.int64],
    ts: npt.NDArray[np.int64],
    bits: npt.NDArray[np.uint64],
    at: int,
) -> int:  # pragma: no cover
    """Read one ``TimeSeries`` body; fills ``row`` (label bytes lo/hi, sample lo/hi) and
    returns the next free sample slot, or -1 when refused."""
    lab_lo, lab_hi, first = -1, -1, at
    while i < end:
        tag, j = _varint(buf, i, end)
        if j < 0 or tag >> np.uint64(3) == 0:
            return -1
        field, wt = int(tag >> np.uint64(3)), int(tag & np.uint64(7))
        nxt = _skip(buf, j, end, wt)
        if nxt < 0 or ((field == 1 or field == 2) and wt != WT_LEN):
            return -1
        if field == 1:
            if lab_lo < 0:
                lab_lo = i
            elif lab_hi != i:
                return -1  # labels not stored as one run
            lab_hi = nxt
        elif field == 2:
            n, k = _varint(buf, j, end)
            if not _sample(buf, k, nxt, ts, bits, at):
                return -1
            at += 1
        else:
            return -1  # exemplars, native histograms, unknown fields: the parser counts them
        i = nxt
    if lab_lo < 0:
        return -1
    row[0], row[1], row[2], row[3] = lab_lo, lab_hi, first, at
    return at


@njit(cache=True, nogil=True)
def scan(
    buf: npt.NDArray[np.uint8],
) -> tuple[
    int, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint64]
]:  # pragma: no cover
    """``(status, rows, ts_ms, value_bits)``; ``rows[k]`` = label byte range and sample range
    of the k-th time series. Every sample and series takes at least 2 bytes, which bounds the
    arrays."""
    end = buf.shape[0]
    rows = np.empty((end // 2 + 1, 4), dtype=np.int64)
    ts = np.empty(end // 2 + 1, dtype=np.int64)
    bits = np.empty(end // 2 + 1, dtype=np.uint64)
    i, n_rows, at = 0, 0, 0
    while i < end:
        tag, j = _varint(buf, i, end)
        if j < 0 or tag >> np.uint64(3) == 0:
            return REFUSED, rows[:0], ts[:0], bits[:0]
        field, wt = int(tag >> np.uint64(3)), int(tag & np.uint64(7))
        nxt = _skip(buf, j, end, wt)
        if nxt < 0 or (field == 1 and wt != WT_LEN):
            return REFUSED, rows[:0], ts[:0], bits[:0]
        if field == 1:
            n, k = _varint(buf, j, end)
            at = _series(buf, k, nxt, rows[n_rows], ts, bits, at)
            if at < 0:
                return REFUSED, rows[:0], ts[:0], bits[:0]
            n_rows += 1
        i = nxt
    return OK, rows[:n_rows], ts[:at], bits[:at]
