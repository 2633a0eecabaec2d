"""Many series in one compiled call: inputs packed flat, fitted arrays passed by address.

Streaming scores a few new points of hundreds of series per batch. One compiled call per
series pays Python and dispatch costs per series, and every call takes and gives back the GIL,
so two threads scoring halves of a batch hand the GIL back and forth hundreds of times. The
``*_many`` kernels instead take every series of a batch at once: the inputs concatenated
(``Packed``), and each series' fitted arrays by their address (``addresses``), viewed inside
the kernel with ``view``. The arrays stay owned (and kept alive) by their detectors, which hold
them C-contiguous float64; nothing is copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    return cached_on(owner, "_addresses_of", arrays, lambda: _addresses(arrays))


def _addresses(arrays: Sequence[npt.NDArray[Any]]) -> tuple[int, ...]:
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


@dataclass(frozen=True)
class Packed:
    """Validated 2-D inputs of many series, concatenated, with what a window kernel needs.

    Series ``s`` is ``flat[starts[s]:starts[s + 1]]`` reshaped to ``(points, channels[s])``;
    its scores go to ``out[points_at[s]:points_at[s + 1]]``; its training mean/std per channel
    are ``means``/``stds`` from ``channels_at[s]``.
    """

    flat: FloatArray
    starts: IntArray
    points_at: IntArray
    channels: IntArray
    channels_at: IntArray
    means: FloatArray
    stds: FloatArray
    windows: IntArray
    znorm: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, items: Sequence[tuple[Any, FloatArray]]) -> Packed:
        """Pack ``(window detector, x)`` pairs (``mean_``, ``std_``, ``window``, ``normalize``)."""
        xs = [x for _, x in items]
        dets = [det for det, _ in items]
        channels = [x.shape[1] for x in xs]
        return cls(
            flat=np.concatenate([x.ravel() for x in xs]).astype(np.float64, copy=False),
            starts=offsets([x.size for x in xs]),
            points_at=offsets([len(x) for x in xs]),
            channels=np.array(channels, dtype=np.int64),
            channels_at=offsets(channels),
            means=np.concatenate([d.mean_ for d in dets]).astype(np.float64),
            stds=np.concatenate([d.std_ for d in dets]).astype(np.float64),
            windows=np.array([int(d.window) for d in dets], dtype=np.int64),
            znorm=np.array([getattr(d, "normalize", "none") == "window" for d in dets]),
        )

    def args(self) -> tuple[Any, ...]:
        """The packed arrays as the one tuple the ``*_many`` kernels take first."""
        return (
            self.flat,
            self.starts,
            self.points_at,
            self.channels,
            self.channels_at,
            self.means,
            self.stds,
            self.windows,
            self.znorm,
        )

    def split(self, out: FloatArray) -> list[FloatArray]:
        """Per-series pieces of a kernel's flat output."""
        at = self.points_at.tolist()
        return [out[lo:hi] for lo, hi in zip(at[:-1], at[1:], strict=True)]


def offsets(sizes: Sequence[int]) -> IntArray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    out[1:] = np.cumsum(sizes)
    return out


@njit(cache=True, nogil=True)
def series_input(
    s: int, packed: tuple[Any, ...]
) -> tuple[FloatArray, FloatArray, FloatArray, int, bool, int, int]:  # pragma: no cover
    """Series ``s`` of ``Packed.args()``: ``(x, mean, std, window, znorm, lo, hi)``, its
    scores going to ``out[lo:hi]``."""
    flat, starts, points_at, channels, channels_at, means, stds, windows, znorm = packed
    lo, hi = points_at[s], points_at[s + 1]
    x = flat[starts[s] : starts[s + 1]].reshape((hi - lo, channels[s]))
    c_lo, c_hi = channels_at[s], channels_at[s + 1]
    return x, means[c_lo:c_hi], stds[c_lo:c_hi], windows[s], znorm[s], lo, hi


#: kinds of member kernels the fused ensemble pass (``anomalyd.detectors._fused``) dispatches to
KIND_LOF, KIND_SPE, KIND_MSE, KIND_LOF_SLIDING = 1, 2, 3, 4
#: fields of a member record (int64): kind, window, znorm flag, leading points to skip (set by
#: the ensemble), addresses of the channel mean/std and of up to three fitted arrays, two
#: dimensions and one more integer (LOF's ``k``)
RECORD_FIELDS = 12
SKIP_FIELD = 3


def member_record(
    det: Any, kind: int, fitted: Sequence[npt.NDArray[Any]], dims: tuple[int, int], k: int = 0
) -> IntArray:
    """The record of a fitted window detector ``det`` (cached on it while its arrays stay)."""
    arrays = (det.mean_, det.std_, *fitted)

    def make() -> IntArray:
        addrs = list(_addresses(arrays)) + [0] * (5 - len(arrays))
        znorm = int(getattr(det, "normalize", "none") == "window")
        rec = [kind, int(det.window), znorm, 0, *addrs, *dims, k]
        return np.array(rec, dtype=np.int64)

    return cached_on(det, "_record_of", arrays, make)
