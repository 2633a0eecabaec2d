"""Score a whole series offline exactly as the service scores it as it streams in.

The refit schedule, the training spans (incidents masked, lasting changes accepted) and the
alert line depend only on the data (``anomalyd.service.training``), so one pass over the array fits
the same models at the same boundaries and gives the same ``anomaly_score`` as the live service fed
the same points in any number of writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.base import as_2d
from anomalyd.detectors.calibration import bounded
from anomalyd.detectors.crossfit import Calibrated
from anomalyd.detectors.echo import Echo, suppress_echo
from anomalyd.detectors.streaming import StreamScorer
from anomalyd.service.series import NEVER, SeriesConfig, storable_raw
from anomalyd.service.training import first_boundary, fit_model, next_boundary, training_values

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ModelSpan:
    """One model of the replay: fitted on the points before ``boundary``, scoring from it."""

    boundary: int
    detector: str
    calibration: str


@dataclass
class Replay:
    """What the service would have stored for a series.

    Attributes: ``raw``, ``rank`` (the raw score on its model's calibrated scale, unbounded
    and before the echo rule, so scores of successive models rank against each other:
    ``Calibrator.rank``) and ``score`` (``anomaly_score``), ndarrays of shape (n_points,),
    NaN where no model scored the point; ``models``, the fitted models in
    boundary order; ``error``, why the last fit failed (None when none did);
    ``fit_seconds`` and ``score_seconds``, wall time spent fitting and scoring.
    """

    raw: FloatArray
    rank: FloatArray
    score: FloatArray
    models: list[ModelSpan] = field(default_factory=list)
    error: str | None = None
    echo: Echo = field(default_factory=Echo)
    fit_seconds: float = 0.0
    score_seconds: float = 0.0


def replay(config: SeriesConfig, values: npt.ArrayLike, *, first: int | None = None) -> Replay:
    """Scores of ``values`` (shape (n_points[, n_channels])) under ``config``, as streamed.

    ``first``: the first model trains on the points before this index instead of the
    service's first boundary (later refits follow the schedule from there). A failed fit
    keeps the previous model (and is reported in ``error``); a failed first fit leaves the
    rest of the series unscored, as the service does.
    """
    x = as_2d(values, name="values")
    n = len(x)
    out = Replay(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))
    model: Calibrated | None = None
    boundary = first_boundary(config) if first is None else max(first, 1)
    while boundary < n:
        lo = max(boundary - config.train_points, 0)
        train, context = training_values(config, x[lo:boundary], out.score[lo:boundary])
        start = time.perf_counter()
        try:
            model = fit_model(config, train, context)
            out.models.append(ModelSpan(boundary, model.detector.name, model.calibration))
        except ValueError as exc:
            out.error = f"fit failed: {exc}"
            if model is None:
                break
        finally:
            out.fit_seconds += time.perf_counter() - start
        stop = min(next_boundary(config, boundary), n)
        start = time.perf_counter()
        _score(out, model, x, boundary, stop)
        out.score_seconds += time.perf_counter() - start
        boundary = stop if stop < n else NEVER
    return out


def _score(out: Replay, model: Calibrated, x: FloatArray, start: int, stop: int) -> None:
    """Score points ``start .. stop - 1`` with ``model`` into ``out`` (the points before
    ``start`` are its context, as on the live stream)."""
    raw = StreamScorer(model.detector, context=x[:start]).update(x[start:stop])
    out.raw[start:stop] = storable_raw(raw)
    window = model.detector.echo_window
    out.rank[start:stop] = rank = model.calibrator.rank(raw)
    cal = bounded(rank)
    out.score[start:stop], out.echo = suppress_echo(cal, start, window, out.echo)
