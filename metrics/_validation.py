"""Input validation shared by every metric: one place, one set of messages."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def check_labels(labels: npt.ArrayLike) -> IntArray:
    """Return ``labels`` as a 1-D int64 array of 0/1, or raise ValueError saying what to fix."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(
            "`labels` must be a 1-D array of 0/1 values. "
            f"Got an array of shape {arr.shape} instead."
        )
    if arr.size == 0:
        raise ValueError("`labels` is empty: pass at least one labelled point.")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"`labels` must be numeric 0/1 values. Got dtype {arr.dtype} instead.")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            "`labels` must contain only 0 and 1. "
            f"Got {arr[first].item()!r} at index {first} instead."
        )
    return arr.astype(np.int64)


def check_scores(scores: npt.ArrayLike, n: int, *, name: str = "scores") -> FloatArray:
    """Return ``scores`` as a finite 1-D float64 array of length ``n``."""
    arr = np.asarray(scores)
    if arr.ndim != 1:
        raise ValueError(
            f"`{name}` must be a 1-D array with one value per point. "
            f"Got an array of shape {arr.shape} instead."
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must be numeric. Got dtype {arr.dtype} instead.")
    if arr.shape[0] != n:
        raise ValueError(
            f"`labels` and `{name}` must have the same length. "
            f"Got {n} labels and {arr.shape[0]} {name} instead."
        )
    out = arr.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must be finite; {int(bad.sum())} value(s) are NaN or inf "
            f"(first at index {first}). Drop or impute those points before evaluating."
        )
    return out


def check_labels_scores(
    labels: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[IntArray, FloatArray]:
    """Validate a (labels, scores) pair."""
    lab = check_labels(labels)
    return lab, check_scores(scores, lab.shape[0])


def check_int(value: object, name: str, *, minimum: int) -> int:
    """Validate an integer parameter (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_flags(flags: npt.ArrayLike, n: int, *, name: str) -> npt.NDArray[np.bool_]:
    """Return ``flags`` (bool or 0/1 per point, length ``n``) as a 1-D bool array."""
    arr = np.asarray(flags)
    if arr.ndim != 1:
        raise ValueError(
            f"`{name}` must be a 1-D array with one True/False (or 0/1) per point. "
            f"Got an array of shape {arr.shape} instead."
        )
    if arr.shape[0] != n:
        raise ValueError(
            f"`labels` and `{name}` must have the same length. "
            f"Got {n} labels and {arr.shape[0]} {name} instead."
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must be bool or 0/1 values. Got dtype {arr.dtype} instead.")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must contain only True/False or 0/1. "
            f"Got {arr[first].item()!r} at index {first} instead."
        )
    return arr.astype(np.bool_)
