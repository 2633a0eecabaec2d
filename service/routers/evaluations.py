"""``/v1/evaluations``: stored evaluation runs and their leaderboard (the dashboard reads it)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from service.deps import SettingsDep
from service.evaluations import METRICS, EvaluationStore, leaderboard
from service.schemas import (
    EvaluationsResponse,
    EvaluationSummary,
    LeaderboardResponse,
    LeaderboardRow,
)

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])


@router.get("", response_model=EvaluationsResponse)
def list_evaluations(settings: SettingsDep) -> EvaluationsResponse:
    """Runs stored by ``anomalyd evaluate --store DATA_DIR`` in this service's data dir."""
    found = EvaluationStore(settings.data_dir).list()
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
    )
