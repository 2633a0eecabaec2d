"""Autoencoder detectors on sliding windows: APRE + mean-shift scoring, and a plain MSE baseline.

APRE (Tan et al., arXiv 2304.00709): an MLP autoencoder outputs, for every input value ``j`` of
a window, a mean ``mu_j`` and a variance ``var_j = softplus(r_j) + 1e-5``. It is trained with the
probabilistic reconstruction error (PRE) and scores with the adjustable form

    APRE(x, t) = alpha * sum_j (t_j - mu_j(x))^2 / var_j(x) + beta * sum_j log var_j(x)

where the target ``t`` is ``x`` moved by ``mss_rounds`` rounds of kNN mean shift (MSS) towards
the training windows, so an outlier that the network happens to reconstruct well is still far
from its own shifted target. Windows are z-scored with per-channel statistics frozen on the
training span. The MSS reference set is frozen at fit time, so the score of a window depends on
that window alone: scores are causal and streaming gives the batch numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import field
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import torch

from anomalyd.detectors._kernels import KIND_MSE, Records, record, score_records
from anomalyd.detectors._knn import knn
from anomalyd.detectors._ragged import cached_on
from anomalyd.detectors._torch import (
    DEVICES,
    TrainConfig,
    forward_many,
    n_weights,
    pick_device,
    train_stacked,
)
from anomalyd.detectors._windows import exact_nanstd, spread_floor, to_points, windows
from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param

IntArray = npt.NDArray[np.int64]
VAR_FLOOR = 1e-5
FLAT_SPREAD = 1e-5
"""A channel flat in training is standardised by this fraction of its level."""

_PENDING: ContextVar[list[tuple[_WindowAE, FloatArray]] | None] = ContextVar(
    "apre_pending_fits", default=None
)


#: widest hidden layer: windows of many channels (d = window x channels in the thousands)
#: would otherwise train layers of d / 2 units, 16 M weights at 55 channels x 64 points
MAX_HIDDEN = 256


def layer_sizes(d: int, n_out: int, max_hidden: int | None = MAX_HIDDEN) -> tuple[int, ...]:
    """Layer widths from input ``d`` to ``n_out`` outputs, per the paper's table by ``d``,
    hidden layers capped at ``max_hidden`` units (None: uncapped, as fits saved before the
    cap; the default binds from d = 514 on)."""
    if d < 20:
        hidden = [d // 2]
    elif d < 100:
        hidden = [d // 2, d // 4, d // 2]
    elif d < 200:
        hidden = [d // 2, d // 4, d // 8, d // 4, d // 2]
    else:
        hidden = [d // 2, d // 4, d // 16, d // 4, d // 2]
    if max_hidden is not None:
        hidden = [min(h, max_hidden) for h in hidden]
    return (d, *(max(h, 1) for h in hidden), n_out)


def softplus_var(r: FloatArray) -> FloatArray:
    """The variance head, ``softplus(r) + 1e-5``, with torch's softplus (as in training)."""
    return torch.nn.functional.softplus(torch.from_numpy(r)).numpy() + VAR_FLOOR


def apre(
    target: FloatArray, mu: FloatArray, var: FloatArray, alpha: float, beta: float
) -> FloatArray:
    """APRE per row: alpha * sum (t - mu)^2 / var + beta * sum log var."""
    return alpha * ((target - mu) ** 2 / var).sum(axis=1) + beta * np.log(var).sum(axis=1)


class _PRE(torch.autograd.Function):
    """PRE per sample (mean over the window's values), with a hand-written fused backward."""

    @staticmethod
    def forward(ctx: Any, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mu, r = out.chunk(2, dim=-1)
        var = torch.nn.functional.softplus(r).add_(VAR_FLOOR)
        inv = var.reciprocal()
        err = x - mu
        e_inv = err * inv
        e2_inv = err.mul_(e_inv)
        ctx.save_for_backward(e_inv, e2_inv, inv, r)
        return (e2_inv + var.log_()).mean(dim=-1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        e_inv, e2_inv, inv, r = ctx.saved_tensors
        d = e_inv.shape[-1]
        g = grad.unsqueeze(-1) / d
        d_out = torch.empty((*e_inv.shape[:-1], 2 * d), dtype=r.dtype, device=r.device)
        torch.mul(e_inv, g * -2.0, out=d_out[..., :d])
        torch.mul((1.0 - e2_inv).mul_(inv).mul_(g), torch.sigmoid(r), out=d_out[..., d:])
        return d_out, None


def _pre_loss(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PRE (APRE with alpha = beta = 1) per sample, averaged over the window's values."""
    loss: torch.Tensor = _PRE.apply(out, x)
    return loss


def _mse_loss(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return ((x - out) ** 2).mean(dim=-1)


# ---------------------------------------------------------------------------------- MSS
def _nearest(query: FloatArray, reference: FloatArray, k: int, exclude_self: bool) -> IntArray:
    """Indices of the ``k`` nearest reference rows per query row, nearest first."""
    _, idx = knn(query, reference, k, exclude_self=exclude_self)
    return np.asarray(idx, dtype=np.int64)


def _overlap_bound(pos: IntArray, window: int) -> int:
    """Most other windows (by start position) that overlap any one window."""
    lo = np.searchsorted(pos, pos - window + 1, side="left")
    hi = np.searchsorted(pos, pos + window - 1, side="right")
    return int((hi - lo - 1).max(initial=0))


def _blur(level: FloatArray, pos: IntArray, k: int, window: int) -> FloatArray:
    """One reference round: each point -> mean of itself and its k-1 nearest non-overlapping."""
    m = min(len(level) - 1, k - 1 + _overlap_bound(pos, window))
    if m <= 0:
        return level.copy()
    idx = _nearest(level, level, m, exclude_self=True)
    ok = np.abs(pos[idx] - pos[:, None]) >= window
    pick = np.argsort(~ok, axis=1, kind="stable")[:, : k - 1]
    sel, keep = np.take_along_axis(idx, pick, 1), np.take_along_axis(ok, pick, 1)
    acc = level.copy()
    for j in range(sel.shape[1]):
        acc += np.where(keep[:, j : j + 1], level[sel[:, j]], 0.0)
    return acc / (1.0 + keep.sum(axis=1))[:, None]


def mss_reference(z: FloatArray, pos: IntArray, k: int, rounds: int, window: int) -> FloatArray:
    """Reference levels ``0 .. rounds - 1`` (level 0 = ``z``), shape (rounds, n, d).

    ``pos`` are the windows' start positions: neighbours whose window overlaps (``|i - j| <
    window``) are trivial near-copies and are skipped.
    """
    levels = [z][:rounds]
    while len(levels) < rounds:
        levels.append(_blur(levels[-1], pos, k, window))
    return np.stack(levels) if levels else np.empty((0, *z.shape))


def mss_shift(query: FloatArray, levels: FloatArray, k: int) -> FloatArray:
    """Round ``t``: each query -> mean of itself and its k-1 nearest points of level ``t - 1``."""
    q = query
    for level in levels:
        if len(q) == 0:
            break
        idx = _nearest(q, level, k - 1, exclude_self=False)
        acc = q.copy()
        for j in range(k - 1):
            acc += level[idx[:, j]]
        q = acc / k
    return q


# ---------------------------------------------------------------------------------- detectors
class _WindowAE(Detector):
    """Shared machinery: windows, frozen z-scoring, stacked training and stacked scoring."""

    n_out_per_input: ClassVar[int]
    _has_stream_pass: ClassVar[bool] = False
    window: int = param(
        default=64, doc="points per window sample (the point itself included)", minimum=2
    )
    epochs: int = param(
        default=50, doc="passes over the training windows", minimum=1, maximum=10_000
    )
    batch_size: int = param(default=128, doc="training windows per Adam step", minimum=1)
    lr: float = param(default=1e-3, doc="Adam learning rate", minimum=1e-7, maximum=1.0)
    max_train_windows: int = param(
        default=5000, doc="cap on training windows (evenly thinned)", minimum=2
    )
    seed: int = param(default=0, doc="seed of initialisation and shuffling", minimum=0)
    device: str = param(
        default="auto", doc="torch device; auto = CUDA when available", choices=DEVICES
    )
    mean_: FloatArray = field(init=False, repr=False)
    std_: FloatArray = field(init=False, repr=False)
    weights_: FloatArray = field(init=False, repr=False)

    def context_length_for_params(self) -> int:
        return int(self.window) - 1

    def _check_param_relations(self) -> None:
        pick_device(self.device)  # ValueError for "cuda" without a CUDA device

    def _loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _window_scores(self, z: FloatArray, out: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _fit_reference(self, z: FloatArray, pos: IntArray) -> None:
        """Fit anything besides the network from standardised training windows."""

    def _min_windows(self) -> int:
        return 2

    def _sizes(self) -> tuple[int, ...]:
        d = int(self.window) * self.n_channels_
        sizes = layer_sizes(d, d * self.n_out_per_input)
        weights = vars(self).get("weights_")
        if weights is None or len(weights) == n_weights(sizes):
            return sizes
        before_cap = layer_sizes(d, d * self.n_out_per_input, max_hidden=None)
        if len(weights) != n_weights(before_cap):
            raise ValueError(
                f"The saved {self.name} weights ({len(weights)}) fit neither layout for "
                f"{d} inputs: the state is damaged; fit the detector again."
            )
        return before_cap  # a fit saved before the widths were capped

    def _standardise(self, w: FloatArray) -> FloatArray:
        return (w - np.tile(self.mean_, self.window)) / np.tile(self.std_, self.window)

    def _fit(self, x: FloatArray) -> None:
        vars(self).pop("weights_", None)  # a refit trains the current layout (``_sizes``)
        self.mean_ = np.nanmean(x, axis=0)
        self.std_ = spread_floor(exact_nanstd(x), self.mean_, flat=FLAT_SPREAD)
        w = windows(x, self.window)
        pos = np.flatnonzero(~np.isnan(w).any(axis=1))
        if len(pos) < self._min_windows():
            raise ValueError(
                f"`train` needs at least {self._min_windows()} windows of {self.window} points "
                f"without NaN for {self.name}. Got {len(pos)} instead: send more history."
            )
        if len(pos) > self.max_train_windows:
            pos = pos[np.linspace(0, len(pos) - 1, self.max_train_windows).round().astype(int)]
        z = np.ascontiguousarray(self._standardise(w[pos]))
        self.n_train_windows_ = len(z)
        self._fit_reference(z, pos)
        pending = _PENDING.get()
        if pending is None:
            _train_all([(self, z)])
        else:
            pending.append((self, z))

    @classmethod
    def fit_many(cls, items: Sequence[tuple[Self, npt.ArrayLike]]) -> list[Self]:
        """Validate and prepare every item, then train the networks stacked (per shape)."""
        pending: list[tuple[_WindowAE, FloatArray]] = []
        token = _PENDING.set(pending)
        try:
            dets = [det.fit(train) for det, train in items]
            _train_all(pending)
        except Exception:
            for det, _ in pending:  # none of them is fitted: leave them unfitted
                vars(det).pop("n_channels_", None)
            raise
        finally:
            _PENDING.reset(token)
        return dets

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            self._sizes(), self.epochs, self.batch_size, self.lr, self.seed, self.device
        )

    def _score(self, x: FloatArray) -> FloatArray:
        return self._score_many([(self, x)])[0]

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """Score many series; networks of equal shape run stacked in one forward pass, and on
        the CPU a series with few new windows takes its compiled pass (``_score_stream``)."""
        few = [i for i, (det, x) in enumerate(items) if det._streams(len(x))]
        rest = sorted(set(range(len(items))) - set(few))
        out = dict(zip(rest, _score_all([items[i] for i in rest]), strict=True))
        if few:
            out.update(zip(few, cls._score_stream_many([items[i] for i in few]), strict=True))
        return [out[i] for i in range(len(items))]

    def _streams(self, n_points: int) -> bool:
        """Whether ``n_points`` take the compiled pass (few windows, CPU, a class that has one)."""
        few = n_points - int(self.window) + 1 <= STREAM_AE_WINDOWS
        return self._has_stream_pass and few and pick_device(self.device).type == "cpu"

    def _score_stream(self, x: FloatArray) -> FloatArray:
        return self._score_stream_many([(self, x)])[0]

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """One compiled pass over many series (classes with ``_has_stream_pass``)."""
        raise NotImplementedError


def _train_all(pending: Sequence[tuple[_WindowAE, FloatArray]]) -> None:
    groups: dict[tuple[type, TrainConfig], list[int]] = {}
    for i, (det, _) in enumerate(pending):
        groups.setdefault((type(det), det._train_config()), []).append(i)
    for (_, cfg), idx in groups.items():
        loss = pending[idx[0]][0]._loss
        flats = train_stacked([pending[i][1] for i in idx], cfg, loss)
        for i, flat in zip(idx, flats, strict=True):
            pending[i][0].weights_ = flat


def _score_all(items: Sequence[tuple[_WindowAE, FloatArray]]) -> list[FloatArray]:
    wins = [windows(x, det.window) for det, x in items]
    oks = [np.asarray(~np.isnan(w).any(axis=1), dtype=bool) for w in wins]
    zs = [det._standardise(w[ok]) for (det, _), w, ok in zip(items, wins, oks, strict=True)]
    outs: list[FloatArray] = [np.empty(0)] * len(items)
    groups: dict[tuple[type, tuple[int, ...], str], list[int]] = {}
    for i, (det, _) in enumerate(items):
        groups.setdefault((type(det), det._sizes(), det.device), []).append(i)
    for (_, sizes, device), idx in groups.items():
        flats = [items[i][0].weights_ for i in idx]
        for i, out in zip(
            idx, forward_many(flats, sizes, [zs[i] for i in idx], device), strict=True
        ):
            outs[i] = out
    result = []
    for (det, x), ok, z, out in zip(items, oks, zs, outs, strict=True):
        s = np.full(len(ok), np.nan)
        s[ok] = det._window_scores(z, out)
        result.append(to_points(s, len(x), det.window))
    return result


#: at most this many windows per series, a CPU autoencoder scores through its compiled pass
#: (one call per series, no stacking or tensors) instead of the stacked torch forward pass;
#: measured on 200 series (window 64): 7 vs 10 ms at 10 windows each, slower from about 20 on
STREAM_AE_WINDOWS = 16


class PlainAE(_WindowAE):
    """Plain MLP autoencoder (APRE's architecture, ``d`` outputs) trained with MSE.

    Score of point ``t``: squared reconstruction error of the z-scored window ending at ``t``,
    summed over its values (higher = worse reconstructed = more anomalous). The baseline that
    APRE + MSS has to beat.
    """

    name = "ae"
    n_out_per_input = 1

    def _loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _mse_loss(out, x)

    def _window_scores(self, z: FloatArray, out: FloatArray) -> FloatArray:
        return ((z - out) ** 2).sum(axis=1)

    _has_stream_pass = True

    def stream_record(self) -> Records | None:
        if pick_device(self.device).type != "cpu":
            return None
        sizes = cached_on(
            self, "_sizes_of", (self.weights_,), lambda: np.array(self._sizes(), dtype=np.int64)
        )
        dims = (len(self.weights_), len(sizes))
        return record(self, KIND_MSE, (self.weights_, sizes), dims)

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        return score_records(items)


class APRE(_WindowAE):
    """APRE + MSS autoencoder (Tan et al. 2023) on z-scored windows.

    Score of point ``t``: ``alpha * sum_j (t_j - mu_j)^2 / var_j + beta * sum_j log var_j`` for
    the window ending at ``t``, where ``mu``, ``var`` are the network's mean and variance at the
    window and ``t`` is the window after ``mss_rounds`` kNN mean-shift rounds towards the
    training windows (``mss_rounds = 0``: the window itself). High when the window is far from
    what the network expects, relative to how sure the network is. Trained with PRE (alpha =
    beta = 1); scored with the release code's alpha = 0.5, beta = 2.
    """

    name = "apre"
    alpha: float = param(default=0.5, doc="weight of the variance-scaled error term", minimum=0.0)
    beta: float = param(
        default=2.0, doc="weight of the log-variance (uncertainty) term", minimum=0.0
    )
    mss_rounds: int = param(
        default=1, doc="mean-shift rounds of the target (0 = none)", minimum=0, maximum=3
    )
    mss_k: int = param(
        default=20, doc="neighbours per mean-shift step (the point included)", minimum=2
    )
    n_out_per_input = 2

    def _check_param_relations(self) -> None:
        super()._check_param_relations()
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("`alpha` and `beta` cannot both be 0: every score would be 0.")
        if self.mss_k > self.max_train_windows:
            raise ValueError(
                f"`mss_k` ({self.mss_k}) must not exceed `max_train_windows` "
                f"({self.max_train_windows}): the mean shift needs that many training windows."
            )

    def min_train_points(self) -> int:
        """Fewest training points: enough windows for the mean shift.

        ``mss_rounds = 1`` needs ``mss_k`` windows; reference rounds (``mss_rounds >= 2``) also
        need ``mss_k - 1`` non-overlapping neighbours for every training window.
        """
        w, k = int(self.window), self.mss_k
        need = {0: 0, 1: w + k - 1}.get(self.mss_rounds, 3 * w + k - 3)
        return max(super().min_train_points(), need)

    def _min_windows(self) -> int:
        return max(2, self.mss_k if self.mss_rounds > 0 else 0)

    def _fit_reference(self, z: FloatArray, pos: IntArray) -> None:
        self.ref_ = mss_reference(z, pos, self.mss_k, self.mss_rounds, int(self.window))

    def _loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _pre_loss(out, x)

    def _window_scores(self, z: FloatArray, out: FloatArray) -> FloatArray:
        d = z.shape[1]
        target = mss_shift(z, self.ref_, self.mss_k)
        return apre(target, out[:, :d], softplus_var(out[:, d:]), self.alpha, self.beta)
