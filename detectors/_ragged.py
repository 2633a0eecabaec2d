"""Fitted arrays passed to compiled code by address: the streaming-kernel layer's addressing.

A batch of many series goes through one compiled call (``_kernels.stream_many``); each series'
fitted arrays reach it as their data addresses (``addresses``), viewed inside the kernel with
``view`` / ``view_int``. The arrays stay owned (and kept alive) by their detectors, which hold
them C-contiguous float64 (int64: layer sizes); nothing is copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from numba import carray, njit, types
from numba.extending import intrinsic

from anomalyd.detectors.base import FloatArray

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")


def _pointer_intrinsic(dtype: Any) -> Any:
    """A compiled function turning an int64 address into a ``dtype*`` (for ``numba.carray``)."""
    pointer = types.CPointer(dtype)

    @intrinsic
    def cast(typingctx: Any, address: Any) -> Any:  # pragma: no cover - compiled
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.inttoptr(args[0], context.get_value_type(pointer))

        return pointer(types.int64), codegen

    return cast


_f64_pointer = _pointer_intrinsic(types.float64)
_i64_pointer = _pointer_intrinsic(types.int64)


@njit(cache=True, nogil=True)
def view(address: int, rows: int, cols: int) -> FloatArray:  # pragma: no cover
    """The C-contiguous float64 ``(rows, cols)`` array at ``address``."""
    return carray(_f64_pointer(address), (rows, cols))


@njit(cache=True, nogil=True)
def view_int(address: int, n: int) -> IntArray:  # pragma: no cover
    """The contiguous int64 vector of length ``n`` at ``address``."""
    return carray(_i64_pointer(address), (n,))


def addresses(owner: object, *arrays: FloatArray) -> tuple[int, ...]:
    """Data addresses of ``arrays`` (C-contiguous float64), cached on ``owner`` per array set
    (the cache holds the arrays, so their ids identify them)."""
    return cached_on(owner, "_addresses_of", arrays, lambda: addresses_of(arrays))


def addresses_of(arrays: Sequence[npt.NDArray[Any]]) -> tuple[int, ...]:
    for a in arrays:
        if a.dtype not in (np.float64, np.int64) or not a.flags.c_contiguous:
            raise ValueError("fitted arrays must be C-contiguous float64 (int64: layer sizes)")
    return tuple(int(a.__array_interface__["data"][0]) for a in arrays)


def cached_on(owner: object, key: str, arrays: Sequence[object], make: Callable[[], T]) -> T:
    """``make()``, cached in ``vars(owner)[key]`` for as long as ``arrays`` are the same objects
    (the cache holds them, so their ids identify them)."""
    ids = tuple(map(id, arrays))
    cached = vars(owner).get(key)
    if cached is None or cached[1] != ids:
        cached = (tuple(arrays), ids, make())
        vars(owner)[key] = cached
    return cached[2]


def offsets(sizes: Sequence[int]) -> IntArray:
    """``[0, sizes[0], sizes[0] + sizes[1], ...]``: where each of consecutive pieces starts."""
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    out[1:] = np.cumsum(sizes)
    return out
