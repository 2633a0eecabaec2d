"""The alert line: raw scores -> ``anomaly_score``, fitted on scores the model did not train on.

``anomaly_score(r) = log P(R >= r) / log(rate)``, where ``R`` is the raw score of a normal point
and ``rate = 1 - quantile`` is the target false-alarm rate (per point). So:

* ``anomaly_score = 1`` is the alert line: a normal point scores above it with probability
  ``rate`` (0.5% of points by default);
* ``anomaly_score = 2`` is as rare as the line squared (``rate ** 2``), 3 as its cube: severity
  grows with how improbable a point is under the normal model (multilevel anomaly detection);
* ``anomaly_score = 0`` at and below the median of normal scores.

The tail ``P(R >= r)`` above a threshold ``u`` (the ``1 - tail_fraction`` quantile) is a
generalised Pareto distribution fitted to the excesses over ``u`` (peaks over threshold, as in
SPOT: Siffer et al., "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017;
``scipy.stats.genpareto``), so the line sits at a stated probability even where it lies beyond
the largest calibration score. Its shape is kept in ``[0, MAX_SHAPE]``: a bounded fitted tail is
read as exponential, so every finite raw score has a finite, growing ``anomaly_score``. Between
the median and ``u`` the score rises linearly to its value at ``u``.

The calibration scores must come from points the model did not train on
(:func:`anomalyd.detectors.crossfit.fit_calibrated_many`): a training window is its own nearest
neighbour, so in-sample scores sit far below the scores of new normal points.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TAIL_FRACTION = 0.1
"""Share of the calibration scores above the peaks-over-threshold threshold ``u``."""
MAX_SHAPE = 0.5
"""Largest generalised Pareto shape used (heavier fitted tails are capped: few excesses)."""
MAX_SCORE = 100.0
"""``anomaly_score`` is capped here (a probability of ``rate ** 100``)."""
MIN_RATE = 1e-9
"""Smallest target false-alarm rate (``quantile = 1`` is read as this)."""
_REL_FLOOR = 1e-6
_ABS_FLOOR = 1e-300


class Calibrator:
    """Maps raw scores to ``anomaly_score >= 0``; 1.0 is the line at false-alarm rate
    ``1 - quantile`` (see the module docstring for the formula and the source paper).

    Parameters
    ----------
    quantile : float in [0.5, 1.0], default 0.995
        The alert line is this quantile of normal raw scores; ``1 - quantile`` is the target
        false-alarm rate per point.

    Attributes
    ----------
    center_ : float
        Median of the calibration scores (``anomaly_score`` 0 at and below it).
    threshold_ : float
        Peaks-over-threshold threshold ``u``.
    tail_ : float
        Share of calibration scores above ``u`` (``P(R >= u)``).
    sigma_, shape_ : float
        Generalised Pareto scale (raw-score units, > 0) and shape (in ``[0, MAX_SHAPE]``).
    """

    def __init__(self, *, quantile: float = 0.995) -> None:
        self.quantile = quantile

    @property
    def rate(self) -> float:
        """Target false-alarm rate per point, ``1 - quantile`` (at least ``MIN_RATE``)."""
        return max(1.0 - self.quantile, MIN_RATE)

    def fit(self, scores: npt.ArrayLike) -> Self:
        """Fit on raw scores of normal points the model did not train on, shape (n,).

        Raises ValueError when ``quantile`` is out of range or no score is finite.
        """
        _check_quantile(self.quantile)
        s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        s = s[np.isfinite(s)]
        if s.size == 0:
            raise ValueError(
                "The calibrator needs at least one finite score; "
                "give the detector more training points than its window."
            )
        self.center_ = float(np.median(s))
        frac = min(max(TAIL_FRACTION, 2.0 * self.rate), 0.5)
        self.threshold_ = float(np.quantile(s, 1.0 - frac))
        excess = s[s > self.threshold_] - self.threshold_
        self.tail_ = excess.size / s.size if excess.size else frac  # no spread: nominal
        floor = max(_REL_FLOOR * max(abs(self.center_), abs(self.threshold_)), _ABS_FLOOR)
        floor = max(floor, _REL_FLOOR * (self.threshold_ - self.center_))
        self.shape_, self.sigma_ = _fit_tail(excess, floor)
        return self

    def transform(self, raw: npt.ArrayLike) -> FloatArray:
        """``anomaly_score`` of raw scores, same shape; NaN stays NaN (no score yet)."""
        r = np.asarray(raw, dtype=np.float64)
        return _score(r, *self._coefficients(), np.log(self.rate))

    def _coefficients(self) -> tuple[float, float, float, float, float]:
        return self.center_, self.threshold_, np.log(self.tail_), self.sigma_, self.shape_

    def rank(self, raw: npt.ArrayLike) -> FloatArray:
        """A score that ranks raw scores of several models on one scale, same shape as
        ``raw``: ``transform`` without its floor at 0 and its cap at ``MAX_SCORE`` (equal to it
        in between, ``bounded(rank(r)) == transform(r)``; below the median it goes on falling
        instead of tying at 0). Strictly increasing in ``raw`` (up to float rounding far in the
        tail), so for one model it ranks as the raw score does. NaN stays NaN."""
        r = np.asarray(raw, dtype=np.float64)
        return _rank(r, *self._coefficients(), np.log(self.rate))

    @staticmethod
    def transform_many(
        calibrators: Sequence[Calibrator], raws: Sequence[FloatArray]
    ) -> list[FloatArray]:
        """``calibrators[i].transform(raws[i])`` for every i, in one vectorised pass."""
        if not raws:
            return []
        sizes = [len(r) for r in raws]
        table = np.array([[*c._coefficients(), np.log(c.rate)] for c in calibrators])
        cols = [np.repeat(table[:, j], sizes) for j in range(table.shape[1])]
        flat = _score(np.concatenate(raws), *cols)
        return np.split(flat, np.cumsum(sizes)[:-1])

    def to_dict(self) -> dict[str, float]:
        """JSON form."""
        keys = ("center", "threshold", "tail", "sigma", "shape")
        return {"quantile": self.quantile, **{k: getattr(self, k + "_") for k in keys}}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Calibrator:
        """Inverse of ``to_dict``. Raises KeyError for a document of another format."""
        cal = cls(quantile=float(doc["quantile"]))
        for key in ("center", "threshold", "tail", "sigma", "shape"):
            setattr(cal, key + "_", float(doc[key]))
        return cal


def _check_quantile(quantile: object) -> None:
    from anomalyd.detectors.params import Param

    Param("quantile", float, 0.995, "alert quantile", minimum=0.5, maximum=1.0).check(quantile)


def _fit_tail(excess: FloatArray, floor: float) -> tuple[float, float]:
    """(shape, scale) of a generalised Pareto fit to ``excess`` (>= 0), scale >= ``floor``."""
    if excess.size < 2 or float(excess.max()) <= floor:
        return 0.0, max(float(excess.mean()) if excess.size else 0.0, floor)
    from scipy.stats import genpareto

    unit = float(excess.mean())  # the fit is done in units of the mean excess: scale-free
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, _, scale = genpareto.fit(excess / unit, floc=0.0)
    scale *= unit
    if not (np.isfinite(shape) and np.isfinite(scale)) or shape < 0.0:
        return 0.0, max(float(excess.mean()), floor)  # exponential tail (shape 0): its MLE
    shape = min(float(shape), MAX_SHAPE)
    return shape, max(float(scale), floor)


def _score(
    r: Any, center: Any, threshold: Any, log_tail: Any, sigma: Any, shape: Any, log_rate: Any
) -> FloatArray:
    """The calibration formula, elementwise (arguments broadcast against ``r``)."""
    rank = _rank(r, center, threshold, log_tail, sigma, shape, log_rate)
    return np.where(np.isnan(r), np.nan, bounded(rank))


def bounded(rank: FloatArray) -> FloatArray:
    """``anomaly_score`` from :meth:`Calibrator.rank`: floored at (+)0, capped at
    ``MAX_SCORE``; same shape, NaN stays NaN."""
    return np.maximum(np.minimum(rank, MAX_SCORE), 0.0)


def _rank(
    r: Any, center: Any, threshold: Any, log_tail: Any, sigma: Any, shape: Any, log_rate: Any
) -> FloatArray:
    """The formula before its floor at 0 and its cap: below the median it keeps falling,
    linearly in units of the median-to-``u`` span (of ``sigma`` where that span is 0)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        y = np.maximum(r - threshold, 0.0) / sigma
        heavy = np.log1p(shape * y) / np.where(shape > 0, shape, 1.0)
        log_sf = np.where(shape > 0, heavy, y)
        span = np.maximum(threshold - center, 0.0)
        flat = np.minimum((r - threshold) / sigma, 0.0) + (r > threshold)
        body = np.where(span > 0, np.minimum((r - center) / span, 1.0), flat)
        out: FloatArray = (log_tail * body - log_sf) / log_rate
    return out
