"""A label-free ensemble: several window detectors, each standardised on its own training span."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.detectors._kernels import Records, pack, split, stream_many, warm
from anomalyd.detectors._ragged import cached_on, offsets
from anomalyd.detectors.apre import STREAM_AE_WINDOWS
from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.params import param

#: chosen by ``benchmarks/selection_cv.py`` with its defaults (greedy on VUS-PR, keeping the
#: short LOF the everyday alert benchmark needs) and checked by ``benchmarks/alert_quality.py``
DEFAULT_MEMBERS = (
    "lof:32:max_train_windows=3000,lof:64:max_train_windows=3000,subpca:64,ae:64,ae:32,ae:auto"
)
DEFAULT_POINT = "residual:33"
AUTO_FALLBACK = 8
#: at most this many new windows per series take the fused streaming pass (the autoencoder's
#: compiled pass pays up to this many; more go member class by member class)
FUSED_WINDOWS = STREAM_AE_WINDOWS


Member = tuple[str, int | None, dict[str, Any]]


def parse_members(spec: str) -> list[Member]:
    """``"lof:32,lof:auto:normalize=window"`` -> ``[(name, window or None for auto, params)]``.

    ``auto`` = the period of the training span (``anomalyd.metrics.sliding_window``), capped at a
    quarter of the training points. Extra ``key=value`` items are member parameters (ints and
    floats parsed as numbers). Raises ValueError naming the malformed item.
    """
    out: list[Member] = []
    for item in spec.split(","):
        name, _, rest = item.strip().partition(":")
        window, *extras = rest.split(":") if rest else [""]
        params = dict(e.partition("=")[::2] for e in extras)
        ok = name in registry.names() and name not in ("ensemble", "perchannel")
        ok = ok and (window.isdigit() or window == "auto") and all(params.values())
        if not ok:
            raise ValueError(
                "`members` must be comma-separated name:window[:key=value...] items of "
                f"registered detectors, window an int or 'auto' (e.g. {DEFAULT_MEMBERS!r}). "
                f"Got {item.strip()!r} instead."
            )
        parsed = {k: _number(v) for k, v in params.items()}
        out.append((name, None if window == "auto" else int(window), parsed))
    return out


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Ensemble(Detector):
    """Mean of member scores, each rescaled so its training median is 0 and its training
    ``quantile`` is 1 (no labels involved), or the ``point`` member's score so rescaled where
    that is higher and above ``point_gate``. Higher = more anomalous.

    Different detectors catch different anomalies (Sub-PCA: level and trend changes; LOF on
    short windows: local shape changes; the autoencoder: windows it cannot reconstruct), and
    different window lengths trade reaction time for
    context; averaging their standardised scores is more robust across sources than any one
    of them (see README, "Quality"). A one-point spike moves a
    window's score little and the mean of several less, so the ``point`` member (a one-step
    forecast residual by default, :class:`~detectors.residual.ForecastResidual`) takes over
    where it scores above both the mean and ``point_gate`` times its own line (see
    ``part_scale_``): below its line its noise would only reorder normal points. Each normal
    point the point member lifts above the line ranks above sub-line points, so a higher gate
    trades caught point anomalies for ranking (VUS-PR): see ``benchmarks/point_gate.py``. A
    point scores NaN while any member has no full context yet, so the context is the largest
    member context.

    Attributes
    ----------
    windows_ : list of int
        The window of each member, then of the point member (``auto`` resolved).
    members_ : list of Detector
        The fitted window members.
    point_ : Detector or None
        The fitted point member (None when ``point`` is empty).
    center_, scale_ : ndarray of shape (n_members,)
        Each window member's training median and ``quantile`` minus the median.
    point_center_, point_scale_ : ndarray of shape (1,) or (0,)
        The same for the point member.
    part_scale_ : ndarray of shape (2,)
        What the standardised mean and the point member's standardised score are divided by
        before they are joined: 1 and 1 after ``fit``; their out-of-sample quantile at the
        alert line's quantile after :meth:`balance_parts` (``anomalyd.detectors.crossfit`` calls
        it), so that neither part's tail sets the line alone and the point member takes over only
        where it alone would alert.
    """

    name = "ensemble"
    members_: list[Detector] = field(init=False, repr=False)
    point_: Detector | None = field(init=False, repr=False)
    split_batches = True
    members: str = param(default=DEFAULT_MEMBERS, doc="comma-separated detector:window members")
    quantile: float = param(
        default=0.99, doc="training quantile mapped to 1", minimum=0.5, maximum=1.0
    )
    point: str = param(
        default=DEFAULT_POINT,
        doc="one name:window[:key=value...] member combined with the members' mean by maximum "
        "(point anomalies); '' for none",
    )
    point_gate: float = param(
        default=1.0,
        doc="the point member takes over above this multiple of its own alert-quantile line",
        minimum=1.0,
    )

    def _check_param_relations(self) -> None:
        parse_members(self.members)
        try:
            ok = not self.point or len(parse_members(self.point)) == 1
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"`point` must be one name:window[:key=value...] member of a registered "
                f"detector (e.g. {DEFAULT_POINT!r}) or ''. Got {self.point!r} instead."
            )

    def _specs(self) -> list[Member]:
        """The window members' specs, then the point member's (if any)."""
        return parse_members(self.members) + (parse_members(self.point) if self.point else [])

    def context_length_for_params(self) -> int:
        """Before fit, the fixed-window members' context (auto windows are known after fit)."""
        return max(w or AUTO_FALLBACK for _, w, _ in self._specs()) - 1

    @property
    def context_length(self) -> int:
        """The largest member context (auto windows resolved on the training span)."""
        self._check_fitted()
        return self._layout()[0]

    @property
    def echo_window(self) -> int:
        """The longest echo of any member (window members: their window)."""
        self._check_fitted()
        return max(det.echo_window for det in self._all_members())

    def _layout(self) -> tuple[int, list[int]]:
        """(context length, ``_skips``), computed once per set of members (hot in streaming)."""
        cached = vars(self).get("_layout_of")
        if cached is None or cached[0] is not self.members_:
            top = max(det.context_length for det in self._all_members())
            cached = (self.members_, (top, [top - det.context_length for det in self.members_]))
            self._layout_of = cached
        return cached[1]

    def _all_members(self) -> list[Detector]:
        """The fitted window members, then the point member (if any)."""
        return self.members_ + ([self.point_] if self.point_ is not None else [])

    def min_train_points(self) -> int:
        return max(det.min_train_points() for det in self._unfitted_members())

    def load_weights(self) -> None:
        """Every member's pretrained weights (a ``themis`` member's encoder)."""
        for det in self._unfitted_members():
            det.load_weights()

    def _unfitted_members(self) -> list[Detector]:
        """One unfitted detector per member spec (an auto window at its fallback)."""
        return [
            registry.create(n, {**p, "window": w or AUTO_FALLBACK}) for n, w, p in self._specs()
        ]

    def _fit(self, x: FloatArray) -> None:
        _fit_all([(self, x)])

    @classmethod
    def fit_many(cls, items: Sequence[tuple[Self, npt.ArrayLike]]) -> list[Self]:
        """Fit many ensembles: the members of one class fit in one ``fit_many`` call across
        series (the autoencoders train stacked). Raises when any item cannot be fitted, and
        then leaves every item unfitted."""
        prepared = []
        try:
            prepared = [(det, det._prepare_fit(train)) for det, train in items]
            _fit_all(prepared)
        except Exception:
            for det, _ in items:
                vars(det).pop("n_channels_", None)
            raise
        return [det for det, _ in prepared]

    def _make_members(self, x: FloatArray) -> list[Detector]:
        """Unfitted window members then the point member, ``auto`` windows resolved on the
        training span ``x``."""
        specs = self._specs()
        self.windows_ = [w if w is not None else _auto_window(x) for _, w, _ in specs]
        return [
            registry.create(n, {**p, "window": w})
            for (n, _, p), w in zip(specs, self.windows_, strict=True)
        ]

    def _standardise_members(self, train_scores: Sequence[FloatArray]) -> None:
        """Each member's training median -> 0 and training ``quantile`` -> 1 (window members
        in ``center_``/``scale_``, the point member in ``point_center_``/``point_scale_``)."""
        scales = [robust_scale(train, float(self.quantile)) for train in train_scores]
        center, scale = [c for c, _ in scales], [s for _, s in scales]
        n = len(self.members_)
        self.center_, self.point_center_ = np.array(center[:n]), np.array(center[n:])
        self.scale_, self.point_scale_ = np.array(scale[:n]), np.array(scale[n:])
        self.part_scale_ = np.ones(2)

    def _score(self, x: FloatArray) -> FloatArray:
        return self._with_point(self._mean(x), x)

    def _mean(self, x: FloatArray) -> FloatArray:
        """The window members' standardised mean, shape (n_points,)."""
        parts = [
            det.score(x[skip:]) for det, skip in zip(self.members_, self._skips(), strict=True)
        ]
        return _combine(self, parts, len(x))

    def _point_input(self, x: FloatArray) -> FloatArray:
        """The part of ``x`` the point member scores (it skips what the ensemble cannot)."""
        skip = self._layout()[0] - self.point_.context_length if self.point_ is not None else 0
        return x[skip:]

    def _point_part(self, n: int, x: FloatArray, raw: FloatArray | None = None) -> FloatArray:
        """The point member's standardised score of the last ``n`` points of ``x`` (from its
        raw scores ``raw`` when given), NaN where it has none."""
        raw = self.point_.score(self._point_input(x)) if raw is None else raw  # type: ignore[union-attr]
        z = np.full(n, np.nan)
        z[n - len(raw) :] = (raw - self.point_center_[0]) / self.point_scale_[0]
        return z

    def _with_point(
        self, mean: FloatArray, x: FloatArray, raw: FloatArray | None = None
    ) -> FloatArray:
        """``gated_join`` of ``mean`` and the point member's score."""
        if self.point_ is None:
            return mean
        point = self._point_part(len(mean), x, raw)  # hot path: no (n, 2) copy, no checks
        return gated_join(mean, point, self.part_scale_, self.point_gate)

    def score_parts(self, values: npt.ArrayLike) -> FloatArray:
        """The two parts of the score before balancing, ndarray of shape (n_points, 2): the
        window members' standardised mean and the point member's standardised score (NaN
        without a point member). Raises like ``score``."""
        x = self._check_input(values)
        mean = self._mean(x)
        point = self._point_part(len(x), x) if self.point_ is not None else np.full(len(x), np.nan)
        return np.column_stack([mean, point])

    def balance_parts(self, parts: FloatArray, quantile: float | None = None) -> FloatArray:
        """Set ``part_scale_`` to each part's ``quantile`` (the alert line's; default the
        ensemble's ``quantile``) over ``parts`` (shape (n_points, 2), from
        :meth:`score_parts` on points the model did not train on; a part without positive
        finite scores keeps 1) and return those points' scores, shape (n_points,)."""
        self.part_scale_ = part_scales(parts, self.quantile if quantile is None else quantile)
        return self.join_parts(parts)

    def join_parts(self, parts: FloatArray) -> FloatArray:
        """The score of points from their two parts (shape (n_points, 2), from
        :meth:`score_parts`), balanced by ``part_scale_`` and joined at ``point_gate``: shape
        (n_points,); the window members' part alone without a point member. Raises
        NotFittedError before ``fit``, ValueError for another shape."""
        self._check_fitted()
        if parts.ndim != 2 or parts.shape[1] != 2:
            raise ValueError(f"`parts` must have shape (n_points, 2). Got {parts.shape} instead.")
        if self.point_ is None:
            out: FloatArray = parts[:, 0] / self.part_scale_[0]
            return out
        return gated_join(parts[:, 0], parts[:, 1], self.part_scale_, self.point_gate)

    def _skips(self) -> list[int]:
        """Leading points each member can skip: the ensemble scores NaN until its largest member
        has a full window, and a member's score of ``t`` depends on its own context only."""
        return self._layout()[1]

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """Score many series: a few new windows of series whose members all have a compiled
        streaming kernel in one fused call (``_kernels.stream_many``), the others member class
        by member class."""
        few = [i for i, (det, x) in enumerate(items) if det._fuses(len(x))]
        rest = sorted(set(range(len(items))) - set(few))
        out = dict(zip(rest, _score_by_member([items[i] for i in rest]), strict=True))
        if few:
            out.update(zip(few, _score_fused([items[i] for i in few]), strict=True))
        return _with_points(items, [out[i] for i in range(len(items))])

    def _fuses(self, n_points: int) -> bool:
        """Whether ``n_points`` take the fused pass (few new windows, every member has one)."""
        return n_points - self.context_length <= FUSED_WINDOWS and self._records() is not None

    def prepare_streaming(self) -> None:
        """Build the members' records and load the fused kernel (off the scoring path)."""
        if self._records() is not None:
            warm()

    def _records(self) -> tuple[Records, FloatArray] | None:
        """The members' records (``_kernels.RECORD``) with their skips, and their (median,
        scale)."""

        def make() -> tuple[Records, FloatArray] | None:
            records = [det.stream_record() for det in self.members_]
            if any(r is None for r in records):
                return None
            table: Records = np.concatenate(records)  # type: ignore[arg-type]
            table["skip"] = self._skips()
            return table, np.column_stack([self.center_, self.scale_])

        return cached_on(self, "_records_of", (self.members_, self.center_, self.scale_), make)

    # Members are detectors: save their state under a prefix per member.
    # A point member is saved as member i = len(members_) with its own center and scale.
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"center_": self.center_, "scale_": self.scale_}
        arrays.update(point_center_=self.point_center_, point_scale_=self.point_scale_)
        arrays.update(part_scale_=self.part_scale_)
        for i, det in enumerate(self._all_members()):
            arrays.update({f"m{i}.{k}": v for k, v in det.state_arrays().items()})
        return arrays

    def state_meta(self) -> dict[str, Any]:
        members = [det.state_meta() for det in self._all_members()]
        return {"n_channels_": self.n_channels_, "windows_": self.windows_, "members_": members}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore a saved ensemble; one saved without a point member keeps none (until its
        next refit)."""
        self.n_channels_ = int(meta["n_channels_"])
        self.center_, self.scale_ = arrays["center_"], arrays["scale_"]
        self.point_center_ = arrays.get("point_center_", np.empty(0))
        self.point_scale_ = arrays.get("point_scale_", np.empty(0))
        self.part_scale_ = arrays.get("part_scale_", np.ones(2))
        self.windows_ = [int(w) for w in meta["windows_"]]
        fitted = []
        saved = self._specs()[: len(self.windows_)]  # a model saved without a point member
        for i, ((name, _, params), window) in enumerate(zip(saved, self.windows_, strict=True)):
            det = registry.create(name, {**params, "window": window})
            prefix = f"m{i}."
            own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            det.load_state(own, meta["members_"][i])
            fitted.append(det)
        n = len(self.center_)
        self.members_, self.point_ = fitted[:n], (fitted[n] if len(fitted) > n else None)


def robust_scale(train: FloatArray, quantile: float) -> tuple[float, float]:
    """(median, ``quantile`` minus the median) of the finite scores ``train``, shape (n,);
    (0, 1) without any; the spread floored at 1e-12 of the median's size."""
    train = train[np.isfinite(train)]
    med = float(np.median(train)) if train.size else 0.0
    top = float(np.quantile(train, quantile)) if train.size else 1.0
    return med, max(top - med, 1e-12 * max(1.0, abs(med)))


def _fit_all(items: Sequence[tuple[Ensemble, FloatArray]]) -> None:
    """Fit ensembles on validated inputs: members of one class in one ``fit_many`` call, then
    each member standardised on its scores of the training span."""
    groups: dict[type[Detector], list[tuple[Detector, FloatArray]]] = {}
    members = [det._make_members(x) for det, x in items]
    for (_, x), own in zip(items, members, strict=True):
        for member in own:
            groups.setdefault(type(member), []).append((member, x))
    train_scores: dict[int, FloatArray] = {}
    for member_cls, pairs in groups.items():
        member_cls.fit_many(pairs)  # fits the members in place
        scores = member_cls._score_many(pairs)
        train_scores.update((id(m), s) for (m, _), s in zip(pairs, scores, strict=True))
    for (det, _), own in zip(items, members, strict=True):
        n = len(parse_members(det.members))
        det.members_, det.point_ = own[:n], (own[n] if len(own) > n else None)
        det._standardise_members([train_scores[id(m)] for m in own])


def _score_by_member(items: Sequence[tuple[Ensemble, FloatArray]]) -> list[FloatArray]:
    """The members of one class run in one ``_score_many`` call across series."""
    xs = [x for _, x in items]
    groups: dict[type[Detector], list[tuple[int, int]]] = {}
    for i, (det, _) in enumerate(items):
        for j, member in enumerate(det.members_):
            groups.setdefault(type(member), []).append((i, j))
    skips = [det._skips() for det, _ in items]
    raw: dict[tuple[int, int], FloatArray] = {}
    for member_cls, keys in groups.items():
        batch = [(items[i][0].members_[j], xs[i][skips[i][j] :]) for i, j in keys]
        raw.update(zip(keys, member_cls._score_many(batch), strict=True))
    return [
        _combine(det, [raw[i, j] for j in range(len(det.members_))], len(xs[i]))
        for i, (det, _) in enumerate(items)
    ]


def part_scales(parts: FloatArray, quantile: float) -> FloatArray:
    """Each column's ``quantile`` over its finite values, shape (2,), from ``parts`` of shape
    (n_points, 2); 1 for a column without a positive one."""
    scale = np.ones(2)
    for j in range(2):
        col = parts[:, j][np.isfinite(parts[:, j])]
        top = float(np.quantile(col, quantile)) if col.size else 0.0
        scale[j] = top if top > 0 else 1.0
    return scale


def gated_join(
    mean: FloatArray, point: FloatArray, part_scale: FloatArray, gate: float
) -> FloatArray:
    """``mean / part_scale[0]``, or ``point / part_scale[1]`` where that is higher and above
    ``gate`` (1: the point part's own alert-quantile line; below it the point member's noise
    would reorder normal points); NaN where either is NaN (a score needs every member's
    context)."""
    a, b = mean / part_scale[0], point / part_scale[1]
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(b > np.fmax(a, gate), b, a)
    out[np.isnan(a) | np.isnan(b)] = np.nan
    return out


def _with_points(
    items: Sequence[tuple[Ensemble, FloatArray]], means: list[FloatArray]
) -> list[FloatArray]:
    """``Ensemble._with_point`` of many series, point members of one class in one call."""
    groups: dict[type[Detector], list[tuple[int, Detector]]] = {}
    for i, (det, _) in enumerate(items):
        if det.point_ is not None:
            groups.setdefault(type(det.point_), []).append((i, det.point_))
    out = list(means)
    for point_cls, found in groups.items():
        keys = [i for i, _ in found]
        batch = [(point, items[i][0]._point_input(items[i][1])) for i, point in found]
        for i, raw in zip(keys, point_cls._score_many(batch), strict=True):
            out[i] = items[i][0]._with_point(means[i], items[i][1], raw)
    return out


def _score_fused(items: Sequence[tuple[Ensemble, FloatArray]]) -> list[FloatArray]:
    """``_score_by_member``'s scores in one compiled call (``_kernels.stream_many``)."""
    tables = [det._records() for det, _ in items]
    records = np.concatenate([t[0] for t in tables if t is not None])
    center_scale = np.concatenate([t[1] for t in tables if t is not None])
    members_at = offsets([len(det.members_) for det, _ in items])
    packed, points_at = pack([x for _, x in items])
    return split(stream_many(packed, records, members_at, center_scale), points_at)


def _combine(det: Ensemble, member_scores: Sequence[FloatArray], n: int) -> FloatArray:
    """Mean of the members' scores (of the last points), each standardised by its training
    median and quantile; NaN where a member has no score."""
    total = np.zeros(n)
    for raw, c, s in zip(member_scores, det.center_, det.scale_, strict=True):
        total[: n - len(raw)] = np.nan
        total[n - len(raw) :] += (raw - c) / s
    out: FloatArray = total / len(member_scores)
    return out


def _auto_window(x: FloatArray) -> int:
    """Period of the training span's first channel, capped at a quarter of its length."""
    from anomalyd.metrics.window import sliding_window

    first = x[:, 0]
    period = sliding_window(first[np.isfinite(first)])
    return int(min(period, max(AUTO_FALLBACK, len(x) // 4)))
