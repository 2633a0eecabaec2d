"""Fit a detector and its alert line: calibration on scores of points the model did not train on.

The one place where the service and ``anomalyd evaluate`` turn a training span into a model and
an alert line. The training span is cut into ``folds`` contiguous blocks; for each block a copy
of the detector (same parameters) is fitted on the span with that block masked out (NaN: the
detector skips every window that touches it) and scores the block. Those out-of-sample scores
fit the :class:`~detectors.calibration.Calibrator`; the model that scores live points is fitted
on the whole span. A training window is its own nearest neighbour, so in-sample scores would
put the line far below the scores of new normal points (a third of an ordinary noisy gauge's
points alerted that way).

On a constant training span the asked detector is kept when it fits and scores a departure
from the span's value above the value itself (the ensemble's window members grade departures
by their shape); one that cannot fit it or scores departures alike (an isolation forest sees
no split) is replaced by :class:`~detectors.constant.ConstantLevel`, so a departure always
alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.base import Detector, FloatArray, as_2d
from anomalyd.detectors.calibration import Calibrator
from anomalyd.detectors.constant import ConstantLevel, constant_channels
from anomalyd.detectors.ensemble import Ensemble

CALIBRATION_FOLDS = 3
"""Contiguous blocks of the training span scored out of sample (default)."""
FLAT_NOISE = 1e-6
"""On a constant span, raw scores this close (relative) to the span's own are its value."""
MIN_CALIBRATION_SCORES = 50
"""Fewest out-of-sample scores calibrated on; below, the model's in-sample scores are used."""


@dataclass(frozen=True)
class Calibrated:
    """A fitted detector, its alert line, and how the line was fitted (for the series API).

    ``line_scores`` are what the line was fitted from: the out-of-sample scores, ndarray of
    shape (n,), or (n, 2) for an ensemble with a point member (its two parts before
    :meth:`Ensemble.balance_parts` joined them, so a study can re-join them:
    ``benchmarks/point_gate.py``); the in-sample scores, shape (n,), when the span is too short
    for folds or constant. Not saved with a model.
    """

    detector: Detector
    calibrator: Calibrator
    calibration: str
    line_scores: FloatArray | None = None


def is_constant(x: FloatArray) -> bool:
    """Whether every channel of ``x`` (shape (n_points, n_channels)) has one value (NaN
    ignored)."""
    return bool(np.all(constant_channels(x)))


def fit_calibrated(
    detector: Detector,
    train: npt.ArrayLike,
    *,
    quantile: float = 0.995,
    folds: int = CALIBRATION_FOLDS,
) -> Calibrated:
    """Fit ``detector`` on ``train`` (shape (n_points[, n_channels])) and its alert line.

    Raises ValueError when ``train`` cannot fit the detector (see ``Detector.fit``).
    """
    return fit_calibrated_many([(detector, train)], quantiles=[quantile], folds=folds)[0]


def fit_calibrated_many(
    items: Sequence[tuple[Detector, npt.ArrayLike]],
    *,
    quantiles: Sequence[float],
    folds: int = CALIBRATION_FOLDS,
) -> list[Calibrated]:
    """``fit_calibrated`` of many detectors of one class at once (one ``fit_many`` call for
    the models, one for the fold copies: the autoencoders train stacked). ``quantiles[i]`` is
    the alert quantile of item ``i``. Raises like ``fit_many`` when any model cannot be fitted.
    """
    if not items:
        return []
    xs = [as_2d(train, name="train") for _, train in items]
    flat = [i for i, x in enumerate(xs) if is_constant(x)]
    dets = [det for det, _ in items]
    _fit_by_class([(d, x) for i, (d, x) in enumerate(zip(dets, xs, strict=True)) if i not in flat])
    for i in flat:
        if not (_try_fit(dets[i], xs[i]) and flags_departures(dets[i], xs[i])):
            dets[i] = ConstantLevel().fit(xs[i])
    scores = _out_of_sample(dets, xs, folds)
    out = []
    for i, (det, x, q) in enumerate(zip(dets, xs, quantiles, strict=True)):
        found, how = scores[i]
        sc = det.score(x) if found is None else _combined(det, found, q)
        if i in flat:
            sc = flat_line(det.score(x))
            how = "constant training span: any departure from its value alerts"
        elif found is None:
            how = "in-sample (the training span is too short for folds)"
        line_scores = found if found is not None and i not in flat else sc
        out.append(Calibrated(det, Calibrator(quantile=q).fit(sc), how, line_scores))
    return out


def flat_line(scores: FloatArray) -> FloatArray:
    """Calibration scores for a constant span: its largest score plus ``FLAT_NOISE`` (relative,
    raw scores being dimensionless), so float noise of the span's own value stays at 0 and
    anything above alerts."""
    finite = scores[np.isfinite(scores)]
    top = float(finite.max()) if finite.size else 0.0
    return np.full(max(finite.size, 1), top + FLAT_NOISE * max(1.0, abs(top)))


def flags_departures(detector: Detector, flat: FloatArray) -> bool:
    """Whether ``detector``, fitted on the constant span ``flat`` (shape (n_points,
    n_channels)), scores a point that departs from the span's value (by its own magnitude, or
    by 1 where it is 0) above the span's last point."""
    level = np.nanmedian(flat, axis=0)
    probe = flat.copy()
    probe[-1] = level + np.where(level != 0, np.abs(level), 1.0)
    before, after = detector.score(flat)[-1], detector.score(probe)[-1]
    return bool(np.isfinite(after) and (after > before or not np.isfinite(before)))


def _fit_by_class(items: list[tuple[Detector, FloatArray]]) -> None:
    groups: dict[type[Detector], list[tuple[Detector, FloatArray]]] = {}
    for det, x in items:
        groups.setdefault(type(det), []).append((det, x))
    for cls, group in groups.items():
        cls.fit_many(group)


def fold_bounds(n_points: int, folds: int) -> list[tuple[int, int]]:
    """``folds`` contiguous ``(start, stop)`` blocks covering ``range(n_points)``."""
    edges = np.linspace(0, n_points, folds + 1).round().astype(int).tolist()
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclass
class _Probe:
    item: int
    start: int
    stop: int
    detector: Detector


def _out_of_sample(
    dets: list[Detector], xs: list[FloatArray], folds: int
) -> list[tuple[FloatArray | None, str]]:
    """Per item: its out-of-sample scores and how they were made, or (None, "") when too few."""
    pairs = enumerate(zip(dets, xs, strict=True))
    probes = [p for i, (d, x) in pairs for p in _probes(i, d, x, folds)]
    fitted = _fit_probes(probes, xs)
    found: dict[int, list[FloatArray]] = {}
    for p in fitted:
        ctx = p.detector.context_length
        part = xs[p.item][max(p.start - ctx, 0) : p.stop]
        found.setdefault(p.item, []).append(_block_scores(p.detector, part, p.stop - p.start))
    out: list[tuple[FloatArray | None, str]] = []
    for i in range(len(xs)):
        sc = np.concatenate(found.get(i, [np.empty(0)]))
        whole = np.isfinite(sc).all(axis=1) if sc.ndim == 2 else np.isfinite(sc)  # both parts
        ok = int(whole.sum()) >= MIN_CALIBRATION_SCORES
        out.append((sc, f"cross-fitted ({folds} folds)") if ok else (None, ""))
    return out


def _block_scores(det: Detector, part: FloatArray, n: int) -> FloatArray:
    """Scores of the last ``n`` points of ``part``: shape (n,), or (n, 2) parts of an
    ensemble with a point member (balanced on them: ``Ensemble.balance_parts``)."""
    if isinstance(det, Ensemble) and det.point_ is not None:
        return det.score_parts(part)[-n:]
    return det.score(part)[-n:]


def _combined(det: Detector, found: FloatArray, quantile: float) -> FloatArray:
    """Out-of-sample scores of ``det``: ``found`` itself, or its parts balanced into ``det``
    at the alert line's ``quantile``."""
    if found.ndim == 2 and isinstance(det, Ensemble):
        return det.balance_parts(found, quantile)
    return found


def _probes(item: int, det: Detector, x: FloatArray, folds: int) -> list[_Probe]:
    if isinstance(det, ConstantLevel) or folds < 2:
        return []
    need, valid = det.min_train_points(), np.asarray(~np.isnan(x).any(axis=1))
    out = []
    for start, stop in fold_bounds(len(x), folds):
        rest = np.concatenate([x[:start][valid[:start]], x[stop:][valid[stop:]]])
        # a copy that saw only a constant part would score the block as infinitely far
        if len(rest) >= need and not is_constant(rest):
            out.append(_Probe(item, start, stop, type(det)(**det.get_params())))
    return out


def _fit_probes(probes: list[_Probe], xs: list[FloatArray]) -> list[_Probe]:
    """Fit every probe on its item's span with its block masked; the probes that fitted."""

    def masked(p: _Probe) -> FloatArray:
        x = xs[p.item].copy()
        x[p.start : p.stop] = np.nan
        return x

    try:
        _fit_by_class([(p.detector, masked(p)) for p in probes])
        return probes
    except ValueError:  # one probe cannot fit (e.g. too few windows left): fit one by one
        return [p for p in probes if _try_fit(p.detector, masked(p))]


def _try_fit(det: Detector, x: FloatArray) -> bool:
    try:
        det.fit(x)
    except ValueError:
        return False
    return True
