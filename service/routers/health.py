"""``/healthz`` (the process answers) and ``/readyz`` (it can take writes)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from anomalyd.service.engine import Engine
from anomalyd.service.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """Liveness: the process serves HTTP."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def readyz(request: Request) -> JSONResponse:
    """Readiness: store open, scheduler running."""
    engine: Engine = request.app.state.engine
    if not engine.ready:
        return JSONResponse({"status": "not ready"}, status_code=503)
    body = HealthResponse(
        status="ready",
        series=len(engine.snapshot()),
        queue_depth=engine.queue_depth,
    )
    return JSONResponse(body.model_dump())
