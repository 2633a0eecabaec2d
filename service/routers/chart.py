"""``/v1/series/{series_id}/chart`` and ``/alerts``: what the dashboard draws (read only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Query

from anomalyd.service.chart import alert_runs, chart_columns, thin
from anomalyd.service.deps import EngineDep, SeriesId, TimeQuery
from anomalyd.service.errors import Unprocessable
from anomalyd.service.parsing import parse_query_time
from anomalyd.service.schemas import AlertRunModel, AlertsResponse, ChartResponse

router = APIRouter(prefix="/v1/series", tags=["chart"])

ALL = 2**62


def _range(start: str | None, end: str | None) -> tuple[float | None, float | None]:
    lo, hi = parse_query_time(start, "start"), parse_query_time(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise Unprocessable("end must not be before start.")
    return lo, hi


def _column(x: npt.NDArray[np.float64]) -> list[float | None]:
    """JSON-safe list: NaN -> null."""
    return [None if v != v else v for v in x.tolist()]


@router.get("/{series_id}/chart", response_model=ChartResponse)
def get_chart(
    series_id: SeriesId,
    engine: EngineDep,
    start: TimeQuery = None,
    end: TimeQuery = None,
    points: Annotated[
        int, Query(ge=10, le=20_000, description="About how many points to draw (per line).")
    ] = 2_000,
) -> ChartResponse:
    """Values and ``anomaly_score`` of a time range, thinned with MinMaxLTTB to about
    ``points`` per line (all of them when the range holds fewer), and the range's alert runs
    found on every point."""
    state = engine.get(series_id)
    pts = engine.points_between(state, *_range(start, end), ALL)
    keep = pts.select(thin(pts.ts, chart_columns(pts), points))
    return ChartResponse(
        series=state.id,
        status=state.status,
        total=len(pts.ts),
        downsampled=len(keep.ts) < len(pts.ts),
        timestamps=keep.ts.tolist(),
        values=[_column(keep.values[:, c]) for c in range(keep.values.shape[1])],
        anomaly_score=_column(keep.score),
        alerts=[AlertRunModel(**asdict(run)) for run in alert_runs(pts.ts, pts.score)],
    )


@router.get("/{series_id}/alerts", response_model=AlertsResponse)
def get_alerts(
    series_id: SeriesId, engine: EngineDep, start: TimeQuery = None, end: TimeQuery = None
) -> AlertsResponse:
    """Runs of consecutive points with ``anomaly_score > 1`` in a time range: first and last
    timestamp, points, peak score and severity (critical above 2)."""
    state = engine.get(series_id)
    pts = engine.points_between(state, *_range(start, end), ALL)
    runs = alert_runs(pts.ts, pts.score)
    return AlertsResponse(series=state.id, alerts=[AlertRunModel(**asdict(r)) for r in runs])
