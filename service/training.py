"""When a series is (re)fitted and on which points: models that follow the metric.

The schedule depends only on the data (point indices and the scores already stored), so a
restart resumes it and a replay of the same points fits the same models.

* **Boundaries.** The first model is fitted on the first ``first_boundary`` points (256, or
  ``train_points`` when smaller), so scoring starts early. While the training span is still
  growing towards ``train_points`` the next boundary is twice the last one (a daily cycle is
  seen as soon as there is history of it) until the step reaches ``refit_every``, then every
  ``refit_every`` points. With ``refit_every = 0`` the boundary doubles up to ``train_points``
  and the series stops refitting there.
* **Span.** The model for boundary ``b`` trains on the ``train_points`` points before ``b``.
* **Incidents stay out.** A run of alerts (``anomaly_score >= 1``: alerts and their echo,
  which ``anomalyd.detectors.echo`` publishes at 1.0; points less than ``MERGE_GAP`` points apart
  count as one run) that reached the critical band (> 2) is masked
  out of the next span (NaN: detectors skip every window that touches it), so an incident is
  not learnt as normal. Warnings alone are not masked: normal data crosses the line at the
  target rate, and masking those points would strip the span of its own tail.
* **A lasting change becomes normal.** A run that has lasted ``accept_after`` points
  (``refit_every``, at most half of ``train_points``), still going or ended, is a change of
  level or a new pattern (the first weekend of a weekly cycle), not an incident: it stays in
  the span unmasked, beside what came before it, so the model learns the new level without
  forgetting the old one (a span cut at the run's start had a weekend-only model score the
  next Monday). So a permanent level shift stops alerting about ``2 * refit_every`` points
  after it began (plus the new model's first window).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.detectors.crossfit import Calibrated, fit_calibrated, is_constant
from anomalyd.service.series import NEVER, SeriesConfig

FloatArray = npt.NDArray[np.float64]

FIRST_FIT_POINTS = 256
"""The first model is fitted after this many points (or ``train_points`` when smaller)."""
MERGE_GAP = 12
"""Alerts with at most this many quiet points between them belong to one run."""
ALERT_LINE = 1.0
INCIDENT_LINE = 2.0
"""A run of alerts is an incident (masked) when it reaches the critical band: warnings alone
come at the target false-alarm rate on normal data, and masking them would strip the span of
its own tail (the next line would sit lower, and alert more, each refit)."""


@lru_cache(maxsize=256)
def _min_points(detector: str, params_json: str) -> int:
    return registry.create(detector, json.loads(params_json)).min_train_points()


def min_train_points(config: SeriesConfig) -> int:
    """Fewest points without NaN the configured detector fits on."""
    return _min_points(config.detector, json.dumps(config.params, sort_keys=True))


def first_boundary(config: SeriesConfig) -> int:
    """Index of the first point scored: the first model trains on the points before it."""
    return min(config.train_points, max(FIRST_FIT_POINTS, min_train_points(config)))


def next_boundary(config: SeriesConfig, boundary: int) -> int:
    """The boundary after ``boundary`` (``NEVER`` when the series stops refitting)."""
    if config.refit_every:
        return boundary + min(boundary, config.refit_every)
    if boundary < config.train_points:
        return min(2 * boundary, config.train_points)
    return NEVER


def accept_after(config: SeriesConfig) -> int:
    """How long a run of alerts lasts before it is taken as the metric's new normal."""
    return min(config.refit_every or config.train_points, config.train_points // 2) or 1


@dataclass(frozen=True)
class Span:
    """Training values (incidents NaN) and how many points were masked."""

    values: FloatArray
    masked: int


def training_span(config: SeriesConfig, values: FloatArray, scores: FloatArray) -> Span:
    """The points to train on out of the span before a boundary.

    ``values`` has shape (n_points, n_channels), ``scores`` (n_points,) (NaN: not scored).
    """
    out = values.copy()
    masked = 0
    for lo, hi in alert_runs(scores >= ALERT_LINE):  # an alert's echo (at 1.0) is its run
        if hi - lo < accept_after(config) and np.nanmax(scores[lo:hi]) > INCIDENT_LINE:
            out[lo:hi] = np.nan
            masked += hi - lo
    return Span(out, masked)


def training_values(
    config: SeriesConfig, values: FloatArray, scores: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(values to train on, with incidents masked; the span's values as read: the context).

    ``values`` has shape (n_points, n_channels) and ``scores`` (n_points,): the span before a
    boundary. When masking leaves fewer whole points than the detector fits on, or leaves a
    constant span where the metric was not (a sparse metric: its rare values are its normal),
    the span trains as it is.
    """
    span = training_span(config, values, scores)
    n_ok = int((~np.isnan(span.values).any(axis=1)).sum())
    if n_ok < min_train_points(config):
        return values, values
    if is_constant(span.values) and not is_constant(values):
        return values, values
    return span.values, values


def fit_model(config: SeriesConfig, train: FloatArray, context: FloatArray) -> Calibrated:
    """The configured detector and its alert line fitted on ``train`` (both of shape
    (n_points, n_channels)); on ``context`` (the span unmasked) when masking left too few whole
    windows. Raises ValueError when neither can fit the detector."""
    det = registry.create(config.detector, config.params)
    try:
        return fit_calibrated(det, train, quantile=config.quantile)
    except ValueError:
        det = registry.create(config.detector, config.params)
        return fit_calibrated(det, context, quantile=config.quantile)


def alert_runs(alerts: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(start, stop)`` of the runs of ``alerts``, runs at most ``MERGE_GAP`` apart merged."""
    idx = np.flatnonzero(alerts)
    if not len(idx):
        return []
    cut = np.flatnonzero(np.diff(idx) > MERGE_GAP + 1)
    starts = np.concatenate([[idx[0]], idx[cut + 1]])
    stops = np.concatenate([idx[cut], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))
