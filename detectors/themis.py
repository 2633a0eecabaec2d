"""THEMIS: frozen Chronos-Bolt encoder embeddings of sliding windows, scored by LOF and by the
spectral residual of the |cosine| self-similarity matrix (arXiv 2510.03911; no public code).

Choices (the paper leaves them open; speed measured by ``benchmarks/themis_speed.py``):

* **Windows.** The window of point ``t`` is ``t - window + 1 .. t`` (causal) of one channel.
  Every window is scored (stride 1 at score time), so a point's score never depends on where
  a stride grid starts and streaming equals batch exactly. ``stride`` only thins *training*
  windows: one reference window per block of ``stride`` consecutive windows, at a seeded random
  offset inside the block (stratified, so seasonal periods that divide ``stride`` cannot alias
  all references onto one phase), then at most ``max_train_windows`` of them (seeded choice).
* **Embeddings.** Mean of the Chronos-Bolt patch tokens, [REG] token excluded, L2-normalised
  (``anomalyd.detectors._chronos``); chunks of exactly ``batch_size`` windows make them
  batch-invariant.
* **Scorers, per channel, fitted on the reference embeddings R (N x d) only** (so scores are
  causal and never depend on the test set):
  (1) LOF of the window's embedding against R (``n_neighbors``);
  (2) spectral residual: the window's row of |S| over R and itself, ``s = |R q|`` and 1, minus
  its rank-``n_components`` reconstruction from the top eigenpairs (U, L) of the training
  |S| = |R R^T| (Nystrom extension: off-diagonal part ``s - U U^T s``, self part
  ``1 - sum (U^T s)^2 / L``); the score is the norm of that residual row.
* **Combination.** Rank-averaging is not causal over a test set, so each scorer is standardised
  with statistics of the training span: median and 1.4826 MAD of its leave-one-out scores on R
  (in-sample LOF as scikit-learn computes it; spectral residual with each window's own
  similarity removed). ``scorer="both"`` averages the two z-scores.
* **Channels.** Univariate like the paper: each channel has its own references and statistics;
  a point scores the maximum over channels of the per-channel scores (NaN if any is NaN). A
  channel constant over the training span has no normal variation to embed (every reference
  window is the same): it scores by its departure from its level
  (:func:`anomalyd.detectors.constant.departure`: 0 while it holds, far above any z-score when
  it moves), joined by the same maximum. A training span where every channel is constant is
  refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any, NamedTuple, Self

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse.linalg

from anomalyd.detectors import _chronos
from anomalyd.detectors._knn import knn, lof_fit, lof_score
from anomalyd.detectors._torch import DEVICES
from anomalyd.detectors._windows import to_points, windows
from anomalyd.detectors.base import Detector, FloatArray, as_2d
from anomalyd.detectors.constant import TOLERANCE, constant_channels, departure
from anomalyd.detectors.params import param

_MAD_TO_SIGMA = 1.4826
_QUERY_BLOCK = 4096  # query rows per similarity block: 4096 x 10k x 8 B = 330 MB at most
SCORERS = ("both", "lof", "spectral")


class Themis(Detector):
    """Chronos-Bolt window embeddings scored with LOF and the |S| spectral residual.

    Attributes
    ----------
    used_ : ndarray of shape (n_used,)
        The channels scored through the encoder (not constant over the training span).
    flat_, flat_level_ : ndarray of shape (n_flat,)
        The channels constant over the training span, and their values.
    """

    name = "themis"
    #: set by fit_many around each fit
    _prefetched: list[FloatArray] | None = field(default=None, init=False, repr=False)
    window: int = param(
        default=128,
        doc="points per window (the point itself included)",
        minimum=16,
        maximum=2048,
    )
    stride: int = param(default=16, doc="one training window per `stride` windows", minimum=1)
    n_neighbors: int = param(default=20, doc="LOF neighbours among training embeddings", minimum=1)
    n_components: int = param(default=10, doc="top eigenvectors of |S| projected out", minimum=1)
    scorer: str = param(default="both", doc="which scorer(s) to average", choices=SCORERS)
    max_train_windows: int = param(
        default=2000, doc="cap on reference windows (N)", minimum=2, maximum=10000
    )
    model: str = param(default=_chronos.DEFAULT_MODEL, doc="Chronos-Bolt Hub id or local directory")
    device: str = param(
        default="auto", doc="encoder device ('auto': CUDA+bf16 if any)", choices=DEVICES
    )
    batch_size: int = param(
        default=64, doc="windows per encoder pass (fixed shape)", minimum=1, maximum=4096
    )
    seed: int = param(default=0, doc="seed of the training-window sampling", minimum=0)

    def context_length_for_params(self) -> int:
        return int(self.window) - 1

    def min_train_points(self) -> int:
        """Enough points for ``max(n_neighbors, n_components) + 1`` reference windows."""
        return self.context_length_for_params() + self.stride * (self._min_references())

    def _min_references(self) -> int:
        return max(self.n_neighbors, self.n_components) + 1

    def _check_param_relations(self) -> None:
        for pname in ("n_neighbors", "n_components"):
            value = getattr(self, pname)
            if value >= self.max_train_windows:
                raise ValueError(
                    f"`{pname}` must be < `max_train_windows` ({self.max_train_windows}). "
                    f"Got {value!r} instead."
                )

    def _encoder(self) -> _chronos.ChronosEncoder:
        return _chronos.encoder(self.model, self.device)

    def load_weights(self) -> None:
        self._encoder()

    # ------------------------------------------------------------------ fitting
    def _reference_windows(self, x: FloatArray, channel: int) -> FloatArray:
        """Stratified, seeded sample of the NaN-free training windows of one channel."""
        w = windows(x[:, channel : channel + 1], self.window)
        ok = np.flatnonzero(~np.isnan(w).any(axis=1))
        rng = np.random.default_rng([self.seed, channel])
        shuffled = ok[rng.permutation(len(ok))]
        _, first = np.unique(shuffled // self.stride, return_index=True)
        chosen = shuffled[first]
        if len(chosen) > self.max_train_windows:
            chosen = rng.choice(chosen, self.max_train_windows, replace=False)
        return np.ascontiguousarray(w[np.sort(chosen)])

    def _fit(self, x: FloatArray) -> None:
        self.used_ = _varying_channels(x)
        flat = np.setdiff1d(np.arange(x.shape[1]), self.used_)
        self.flat_, self.flat_level_ = flat, np.nanmedian(x[:, flat], axis=0)
        embs = self._prefetched
        if embs is None:
            refs = [self._reference_windows(x, c) for c in self.used_]
            embs = _embed_many([(self, r) for r in refs])
        for c, emb in zip(self.used_, embs, strict=True):
            if len(emb) < self._min_references():
                raise ValueError(
                    f"`train` gives channel {c} only {len(emb)} NaN-free reference windows; "
                    f"THEMIS needs {self._min_references()}: send more history without gaps "
                    "or lower `stride`, `n_neighbors` or `n_components`."
                )
        self._fit_embeddings(embs)
        self.encoder_ = self._encoder().fingerprint

    def _fit_embeddings(self, embs: list[FloatArray]) -> None:
        parts = [_fit_channel(e, self.n_neighbors, self.n_components) for e in embs]
        self.ref_ = np.concatenate(embs)
        self.ref_offsets_ = np.cumsum([0] + [len(e) for e in embs]).astype(np.int64)
        self.k_distance_ = np.concatenate([p.k_distance for p in parts])
        self.lrd_ = np.concatenate([p.lrd for p in parts])
        self.eigvec_ = np.concatenate([p.eigvec for p in parts])
        self.eigval_ = np.stack([p.eigval for p in parts])
        self.center_ = np.stack([p.center for p in parts])
        self.scale_ = np.stack([p.scale for p in parts])

    @classmethod
    def fit_many(cls, items: Sequence[tuple[Self, npt.ArrayLike]]) -> list[Self]:
        """Fit many detectors with one shared encoder pass over all their reference windows."""
        plans: list[tuple[Self, int]] = []
        requests: list[tuple[Themis, FloatArray]] = []
        for det, train in items:
            det.validate_params()
            x = as_2d(train, name="train")
            used = _varying_channels(x)
            plans.append((det, len(used)))
            requests += [(det, det._reference_windows(x, c)) for c in used]
        embs, start = _embed_many(requests), 0
        for (det, n_channels), (_, train) in zip(plans, items, strict=True):
            det._prefetched = embs[start : start + n_channels]
            start += n_channels
            try:
                det.fit(train)
            finally:
                del det._prefetched
        return [det for det, _ in items]

    # ------------------------------------------------------------------ scoring
    def _score(self, x: FloatArray) -> FloatArray:
        return _score_batch([self], [x])[0]

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """Score many series with one shared encoder pass (chunks of ``batch_size`` windows)."""
        return _score_batch([det for det, _ in items], [x for _, x in items])

    def _with_flat(self, scores: FloatArray, x: FloatArray) -> FloatArray:
        """``scores`` (shape (n_points,)) where every constant channel holds its level; the
        largest departure where one leaves it; NaN where a window holds a NaN of one."""
        if not len(self.flat_):
            return scores
        flat = x[:, self.flat_]
        dep = departure(flat, self.flat_level_, TOLERANCE)
        out: FloatArray = np.where(dep > 0, np.maximum(scores, dep), scores)
        gaps = np.isnan(flat).any(axis=1).astype(np.float64)
        out[np.convolve(gaps, np.ones(self.window))[: len(x)] > 0] = np.nan
        return out

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore a fit; one saved before constant channels were told apart used them all."""
        super().load_state(arrays, meta)
        if "used_" not in arrays:
            self.used_ = np.arange(int(self.n_channels_))
            self.flat_, self.flat_level_ = np.empty(0, dtype=np.int64), np.empty(0)

    def _check_encoder(self) -> None:
        found = self._encoder().fingerprint
        if found != self.encoder_:
            raise ValueError(
                f"This THEMIS detector was fitted with encoder weights {self.encoder_} but "
                f"model {_chronos.resolve_model(self.model)!r} has weights {found}: load the "
                "same checkpoint, or fit again."
            )

    def _channel_scores(self, c: int, emb: FloatArray) -> FloatArray:
        """Standardised (and combined) scores of one channel's window embeddings."""
        lo, hi = self.ref_offsets_[c], self.ref_offsets_[c + 1]
        ref, k_dist, lrd = self.ref_[lo:hi], self.k_distance_[lo:hi], self.lrd_[lo:hi]
        raw = np.empty((len(emb), 2))
        raw[:, 0] = lof_score(emb, ref, k_dist, lrd, self.n_neighbors)
        raw[:, 1] = _spectral_score(emb, ref, self.eigvec_[lo:hi], self.eigval_[c])
        z = (raw - self.center_[c]) / self.scale_[c]
        return z[:, SCORERS.index(self.scorer) - 1] if self.scorer != "both" else z.mean(axis=1)


class _ChannelFit(NamedTuple):
    k_distance: FloatArray
    lrd: FloatArray
    eigvec: FloatArray
    eigval: FloatArray
    center: FloatArray
    scale: FloatArray


def _fit_channel(emb: FloatArray, n_neighbors: int, n_components: int) -> _ChannelFit:
    """LOF and spectral state of one channel, plus leave-one-out standardisation statistics."""
    k_distance, lrd = lof_fit(emb, n_neighbors)
    _, idx = knn(emb, emb, n_neighbors, exclude_self=True)
    sim = emb @ emb.T
    np.abs(sim, out=sim)
    eigvec, eigval = _top_eigenpairs(sim, n_components)
    np.fill_diagonal(sim, 0.0)  # leave-one-out: a window's own similarity is not a feature
    spectral = np.concatenate(
        [
            _spectral_rows(sim[i : i + _QUERY_BLOCK], eigvec, eigval)
            for i in range(0, len(sim), _QUERY_BLOCK)
        ]
    )
    loo = np.stack([lrd[idx].mean(axis=1) / lrd, spectral], axis=1)
    center = np.median(loo, axis=0)
    mad = _MAD_TO_SIGMA * np.median(np.abs(loo - center), axis=0)
    scale = np.maximum(mad, 1e-3 * np.abs(center) + 1e-9)
    return _ChannelFit(k_distance, lrd, eigvec, eigval, center, scale)


def _top_eigenpairs(sim: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """The ``k`` largest eigenpairs of symmetric ``sim``, largest first (deterministic).

    Lanczos (ARPACK, fixed start vector) above 500 rows: 2x faster than LAPACK at N = 2000-4000.
    """
    n = len(sim)
    if n <= 500:
        val, vec = scipy.linalg.eigh(sim, subset_by_index=[n - k, n - 1])
    else:
        val, vec = scipy.sparse.linalg.eigsh(sim, k=k, which="LA", v0=np.ones(n), tol=0)
    order = np.argsort(val)[::-1]
    return np.ascontiguousarray(vec[:, order]), np.ascontiguousarray(val[order])


def _spectral_rows(sim: FloatArray, eigvec: FloatArray, eigval: FloatArray) -> FloatArray:
    """Norm of each |S| row (over the references, and its own entry 1) minus its rank-k part."""
    proj = sim @ eigvec
    off_diagonal = sim - proj @ eigvec.T
    tol = 1e-9 * float(eigval.max())
    inv = np.where(eigval > tol, 1.0 / np.maximum(eigval, tol), 0.0)
    self_part = 1.0 - (proj * proj) @ inv
    out: FloatArray = np.sqrt(np.einsum("ij,ij->i", off_diagonal, off_diagonal) + self_part**2)
    return out


def _spectral_score(
    emb: FloatArray, ref: FloatArray, eigvec: FloatArray, eigval: FloatArray
) -> FloatArray:
    """Spectral residual of new windows (Nystrom extension), in blocks of query rows."""
    out = np.empty(len(emb))
    for start in range(0, len(emb), _QUERY_BLOCK):
        sim = np.abs(emb[start : start + _QUERY_BLOCK] @ ref.T)
        out[start : start + len(sim)] = _spectral_rows(sim, eigvec, eigval)
    return out


def _embed_many(requests: Sequence[tuple[Themis, FloatArray]]) -> list[FloatArray]:
    """Embed each request's windows: one encoder pass per (encoder, window, batch size)."""
    groups: dict[tuple[int, int, int], list[int]] = {}
    encoders: dict[int, _chronos.ChronosEncoder] = {}
    for i, (det, _) in enumerate(requests):
        enc = det._encoder()
        encoders[id(enc)] = enc
        groups.setdefault((id(enc), det.window, det.batch_size), []).append(i)
    out: list[FloatArray] = [np.empty(0)] * len(requests)
    for (enc_id, window, batch_size), idx in groups.items():
        stacked = np.concatenate([requests[i][1].reshape(-1, window) for i in idx])
        emb = encoders[enc_id].embed(stacked, batch_size)
        bounds = np.cumsum([len(requests[i][1]) for i in idx])[:-1]
        for i, part in zip(idx, np.split(emb, bounds), strict=True):
            out[i] = part
    return out


def _score_batch(dets: Sequence[Themis], xs: Sequence[FloatArray]) -> list[FloatArray]:
    """Scores of many (detector, validated input) pairs, all windows embedded together."""
    for det in {id(d): d for d in dets}.values():
        det._check_encoder()
    plans = [(i, p, c) for i, det in enumerate(dets) for p, c in enumerate(det.used_)]
    wins = [windows(xs[i][:, c : c + 1], dets[i].window) for i, _, c in plans]
    oks = [np.isfinite(w).all(axis=1) for w in wins]
    todo = [(dets[i], w[ok]) for (i, _, _), w, ok in zip(plans, wins, oks, strict=True)]
    embs = _embed_many(todo)
    per_series: list[list[FloatArray]] = [[] for _ in xs]
    for (i, p, _), ok, emb in zip(plans, oks, embs, strict=True):
        z = np.full(ok.shape[0], np.nan)
        z[ok] = dets[i]._channel_scores(p, emb)
        per_series[i].append(z)
    return [
        det._with_flat(to_points(np.max(np.stack(zs), axis=0), len(x), det.window), x)
        for zs, x, det in zip(per_series, xs, dets, strict=True)
    ]


def _varying_channels(x: FloatArray) -> npt.NDArray[np.int64]:
    """The channels of ``x`` (shape (n_points, n_channels)) not constant over it (NaN ignored).
    Raises ValueError when every channel is constant."""
    used = np.flatnonzero(~constant_channels(x))
    if not len(used):
        raise ValueError(
            "every channel of `train` is constant: THEMIS has nothing to embed. Fit the "
            "`constant` detector (as the service and `anomalyd evaluate` do for such a span)."
        )
    return used
