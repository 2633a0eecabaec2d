"""How `anomalyd evaluate` scores a series: one model fitted on the training prefix, or the
service's refit schedule from the end of the prefix on."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from anomalyd.detectors import registry
from anomalyd.detectors.crossfit import fit_calibrated
from anomalyd.detectors.echo import Echo, suppress_echo
from anomalyd.service.replay import replay
from anomalyd.service.series import SeriesConfig
from anomalyd.service.suite import LabelledSeries


@dataclass(frozen=True)
class ServiceSchedule:
    """Score the measured rows as the service would: the first model on the last
    ``train_points`` rows of the prefix, then refits on the trailing ``train_points``
    (``anomalyd.service.training``: every ``refit_every`` points; 0: none once the span is
    full)."""

    train_points: int
    refit_every: int


@dataclass
class SeriesScores:
    """One detector's scores of one series.

    Attributes: ``rank``, the score the ranking metrics read, ndarray of shape (n_points,)
    (the raw score of the one model; under the service schedule ``Calibrator.rank`` of each
    point's model, NaN on the prefix); ``alert``, ``anomaly_score`` of the measured rows,
    ndarray of shape (n_points - train_end,); ``fit_seconds``, wall time of every fit (one,
    or one per refit); ``score_seconds``, wall time scoring (every row with the one model;
    the measured rows, calibration included, under the schedule); ``models``, how many
    models were fitted; ``refit_error``, why the last failed refit failed (its predecessor
    went on scoring), None when none failed.
    """

    rank: np.ndarray
    alert: np.ndarray
    fit_seconds: float
    score_seconds: float
    models: int = 1
    refit_error: str | None = None


def score_once(
    series: LabelledSeries, detector: str, params: dict[str, Any], quantile: float
) -> SeriesScores:
    """One model fitted on the whole training prefix scores every row. Raises ValueError
    when the prefix is too short for the detector."""
    start = time.perf_counter()
    fitted = fit_calibrated(
        registry.create(detector, params), series.values[: series.train_end], quantile=quantile
    )
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    raw = fitted.detector.score(series.values)
    score_s = time.perf_counter() - start
    cal = fitted.calibrator.transform(raw[series.train_end :])
    alert, _ = suppress_echo(cal, 0, fitted.detector.echo_window, Echo())
    return SeriesScores(np.asarray(raw, dtype=np.float64), alert, fit_s, score_s)


def score_as_service(
    series: LabelledSeries,
    detector: str,
    params: dict[str, Any],
    quantile: float,
    schedule: ServiceSchedule,
) -> SeriesScores:
    """The service's refit schedule from ``train_end`` on. Raises ValueError when the first
    model cannot be fitted."""
    config = SeriesConfig(
        detector, dict(params), schedule.train_points, schedule.refit_every, quantile
    )
    out = replay(config, series.values, first=series.train_end)
    if not out.models:
        raise ValueError(out.error or "no model was fitted.")
    return SeriesScores(
        rank=out.rank,
        alert=out.score[series.train_end :],
        fit_seconds=out.fit_seconds,
        score_seconds=out.score_seconds,
        models=len(out.models),
        refit_error=out.error,
    )
