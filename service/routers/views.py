"""Model -> response conversions shared by the routers."""

from __future__ import annotations

from anomalyd.service.schemas import SeriesResponse
from anomalyd.service.series import NEVER, SeriesState


def finite_or_none(x: float | None) -> float | None:
    """JSON-safe score."""
    return None if x is None or x != x else float(x)


def anomalous(score: float | None) -> bool | None:
    """``anomaly_score > 1`` (the alert line), null without a score."""
    return None if score is None else score > 1.0


def series_view(state: SeriesState) -> SeriesResponse:
    """Public view of a series."""
    c, model = state.config, state.model  # read once: the scheduler may replace it meanwhile
    return SeriesResponse(
        id=state.id,
        labels=state.labels,
        source=state.source,
        detector=c.detector,
        params=c.params,
        train_points=c.train_points,
        refit_every=c.refit_every,
        quantile=c.quantile,
        status=state.status,
        fitting=state.fitting,
        points=state.count,
        scored=state.scored,
        pending=state.count - state.scored,
        n_channels=state.n_channels,
        last_timestamp=state.last_ts,
        last_anomaly_score=state.last_score,
        last_raw_score=state.last_raw,
        model_version=model.version if model is not None else 0,
        model_detector=model.detector.name if model is not None else None,
        calibration=model.calibration if model is not None else None,
        model_start=model.start if model is not None else None,
        next_refit=state.next_boundary if state.next_boundary < NEVER else None,
        error=state.error,
        created_at=state.created_at,
    )
