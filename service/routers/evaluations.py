"""``/v1/evaluations``: stored evaluation runs and their leaderboard (the dashboard reads it)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query

from anomalyd.service.deps import SettingsDep
from anomalyd.service.errors import Unprocessable
from anomalyd.service.evaluated import chart, series_curves
from anomalyd.service.evaluations import METRICS, EvaluationStore, leaderboard, schedule_of
from anomalyd.service.schemas import (
    AlertRunModel,
    CurvesResponse,
    DetectorCurves,
    EvaluatedSeriesResponse,
    EvaluationSchedule,
    EvaluationsResponse,
    EvaluationSummary,
    LeaderboardResponse,
    LeaderboardRow,
)

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])


@router.get("", response_model=EvaluationsResponse)
def list_evaluations(settings: SettingsDep) -> EvaluationsResponse:
    """Runs stored by ``anomalyd evaluate --store DATA_DIR`` in this service's data dir."""
    found = EvaluationStore(settings.data_dir).runs()
    return EvaluationsResponse(evaluations=[EvaluationSummary(**d) for d in found])


@router.get("/{run_id}", response_model=LeaderboardResponse, responses={404: {}})
def get_leaderboard(
    run_id: Annotated[str, Path(description="Id from GET /v1/evaluations.")],
    settings: SettingsDep,
) -> LeaderboardResponse:
    """The run's detectors (then the published reference rows on the same series) x sources:
    mean VUS-PR, PATE, false-alarm rate, event recall, alerts per 1,000 normal points and fit
    time, with every series' figures."""
    doc = EvaluationStore(settings.data_dir).read(run_id)
    sources, rows = leaderboard(doc)
    return LeaderboardResponse(
        id=doc["id"],
        created_at=doc["created_at"],
        suite=doc["suite"],
        sources=sources,
        series_sources=doc["sources"],
        metrics=list(METRICS),
        rows=[LeaderboardRow(**asdict(r)) for r in rows],
        schedule=EvaluationSchedule(**schedule_of(doc)),
    )


MAX_ROW = 2**53
"""Largest row index a query may name (beyond: no rows)."""
RunId = Annotated[str, Path(description="Id from GET /v1/evaluations.")]
Series = Annotated[str, Path(description="A series of the run (its file or manifest name).")]
Detectors = Annotated[
    list[str], Query(min_length=1, max_length=4, description="Detectors of the run (repeat).")
]


@router.get("/{run_id}/series/{series:path}/curves", response_model=CurvesResponse)
def get_curves(
    run_id: RunId, series: Series, detector: Detectors, settings: SettingsDep
) -> CurvesResponse:
    """Per detector: the point-wise PR curve behind AUC-PR and the range-based PR curves (one
    per buffer length, slices of the VUS surface) whose mean area is VUS-PR."""
    try:
        found, errors = series_curves(EvaluationStore(settings.data_dir), run_id, series, detector)
    except ValueError as exc:
        raise Unprocessable(f"{series}: {exc}") from None
    return CurvesResponse(
        run=run_id,
        series=series,
        curves={d: DetectorCurves(**asdict(c)) for d, c in found.items()},
        errors=errors,
    )


@router.get("/{run_id}/series/{series:path}", response_model=EvaluatedSeriesResponse)
def get_evaluated_series(
    run_id: RunId,
    series: Series,
    detector: Detectors,
    settings: SettingsDep,
    start: Annotated[
        int | None, Query(ge=0, le=MAX_ROW, description="First row; omitted: 0.")
    ] = None,
    end: Annotated[
        int | None, Query(ge=0, le=MAX_ROW, description="Last row; omitted: the last.")
    ] = None,
    points: Annotated[int, Query(ge=10, le=20_000, description="About how many per line.")] = 2_000,
) -> EvaluatedSeriesResponse:
    """Values, labelled anomalies and each detector's anomaly_score over rows ``start..end``,
    thinned with MinMaxLTTB to about ``points`` per line; alert runs at full resolution."""
    if start is not None and end is not None and end < start:
        raise Unprocessable("end must not be before start.")
    found = chart(
        EvaluationStore(settings.data_dir), run_id, series, detector, (start, end), points
    )
    alerts = {d: [AlertRunModel(**asdict(r)) for r in runs] for d, runs in found.alerts.items()}
    return EvaluatedSeriesResponse(run=run_id, series=series, **{**asdict(found), "alerts": alerts})
