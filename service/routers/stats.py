"""``GET /v1/stats``: totals over every series, cheap enough to poll."""

from __future__ import annotations

from fastapi import APIRouter

from anomalyd.service.deps import EngineDep
from anomalyd.service.schemas import StatsResponse
from anomalyd.service.series import STATUSES

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get("/stats", response_model=StatsResponse)
def get_stats(engine: EngineDep) -> StatsResponse:
    """How many series are in each status and how many points are stored, scored and pending."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    stored = scored = 0
    for state in engine.snapshot():
        counts[state.status] += 1
        stored += state.count
        scored += state.scored
    return StatsResponse(
        series=sum(counts.values()),
        counts=counts,
        points_stored=stored,
        points_scored=scored,
        points_pending=stored - scored,
    )
