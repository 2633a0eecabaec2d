"""``GET /metrics``: Prometheus exposition of the app's registry."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Per-series `anomaly_score` / `anomaly_raw_score` gauges and `anomalyd_*` metrics.

    The format follows the scraper's `Accept` header (`prometheus-client`'s negotiation):
    UTF-8 metric and label names (OpenTelemetry's `service.name`) are sent as they are to a
    scraper that asks for `escaping=allow-utf-8` (Prometheus 3), and with their other
    characters replaced by `_` otherwise (Prometheus 2). Async on purpose: scrapes are
    answered even while every worker thread waits for scores.
    """
    registry: CollectorRegistry = request.app.state.registry
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(registry), media_type=content_type)
