"""``/v1/series/{series_id}/points`` (write) and ``/v1/series/{series_id}/scores`` (read)."""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Body, Query

from anomalyd.service.deps import (
    EngineDep,
    SeriesId,
    SettingsDep,
    TelemetryDep,
    TimeQuery,
    WriteAccess,
)
from anomalyd.service.engine import Accepted, Engine, Incoming
from anomalyd.service.errors import Unprocessable, status_of
from anomalyd.service.faults import Refusal
from anomalyd.service.parsing import check_not_future, parse_points, parse_query_time
from anomalyd.service.routers.views import anomalous, finite_or_none
from anomalyd.service.schemas import (
    PointScore,
    PointsRequest,
    PointsResponse,
    ScoredPoint,
    ScoresResponse,
)

router = APIRouter(prefix="/v1/series", tags=["points"])

_REASONS = {409: "conflict", 413: "too_large", 422: "invalid", 429: "queue_full"}


@router.post(
    "/{series_id}/points",
    response_model=PointsResponse,
    dependencies=[WriteAccess],
    responses={
        409: {"description": "A stored point would change."},
        413: {"description": "Too many points or too large a body."},
        422: {"description": "Invalid points."},
        429: {"description": "Scoring queue full; retry after Retry-After seconds."},
    },
)
def post_points(
    series_id: SeriesId,
    body: Annotated[PointsRequest, Body()],
    engine: EngineDep,
    settings: SettingsDep,
    telemetry: TelemetryDep,
) -> PointsResponse:
    """Store points (durably, before answering) and return their scores.

    A new series is created with the default configuration. Timestamps must increase past the
    series' last point; resending a stored point with the same value is a no-op. Ids of the
    form remote-write gives its series (`rw-` and 20 hex digits) are refused (422).
    """
    try:
        ts, values = parse_points(body.timestamps, body.values, settings.max_points_per_request)
        limit = time.time() + settings.remote_write_future_s
        check_not_future(ts, limit, "ANOMALYD_REMOTE_WRITE_FUTURE_S")
        item = Incoming(series_id, ts, values, {"series": series_id})
        [accepted] = engine.ingest([item], "rest", wait=True)
    except Refusal as exc:
        if status_of(exc) != 429:  # 429s are counted by the engine
            reason = _REASONS.get(status_of(exc), "invalid")
            telemetry.rejected.labels("rest", reason).inc(len(body.values))
        raise
    if accepted.waiter is not None:
        accepted.waiter.event.wait(settings.score_wait_timeout_s)
    return _points_response(engine, accepted)


def _points_response(engine: Engine, accepted: Accepted) -> PointsResponse:
    state = accepted.state
    scored = state.scored
    scores = [
        PointScore(
            timestamp=float(t),
            anomaly_score=finite_or_none(s),
            raw_score=finite_or_none(r),
            anomalous=anomalous(finite_or_none(s)),
        )
        for t, (r, s) in zip(accepted.ts, engine.scores_of(accepted), strict=True)
    ]
    return PointsResponse(
        series=state.id,
        accepted=accepted.n_new,
        duplicates=accepted.n_duplicates,
        status=state.status,
        pending=int(np.sum(accepted.idx >= scored)),
        scores=scores,
    )


@router.get("/{series_id}/scores", response_model=ScoresResponse)
def get_scores(
    series_id: SeriesId,
    engine: EngineDep,
    settings: SettingsDep,
    start: TimeQuery = None,
    end: TimeQuery = None,
    limit: Annotated[int, Query(ge=1, description="Most points returned.")] = 10_000,
) -> ScoresResponse:
    """Stored points with their scores, in time order (null scores during warm-up)."""
    state = engine.get(series_id)
    if limit > settings.max_scores_per_query:
        raise Unprocessable(f"limit must be at most {settings.max_scores_per_query}.")
    lo, hi = parse_query_time(start, "start"), parse_query_time(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise Unprocessable("end must not be before start.")
    channels = state.n_channels or 1
    pts = engine.points_between(state, lo, hi, limit + 1)
    multivariate = channels > 1
    points = [
        ScoredPoint(
            timestamp=float(pts.ts[i]),
            value=pts.values[i].tolist() if multivariate else float(pts.values[i, 0]),
            anomaly_score=finite_or_none(pts.score[i]),
            raw_score=finite_or_none(pts.raw[i]),
            anomalous=anomalous(finite_or_none(pts.score[i])),
        )
        for i in range(min(len(pts.ts), limit))
    ]
    return ScoresResponse(
        series=state.id, status=state.status, points=points, truncated=len(pts.ts) > limit
    )
