"""The application factory: ``create_app(settings, registry)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from anomalyd.service.body_encoding import BodyEncodingMiddleware
from anomalyd.service.engine import Engine
from anomalyd.service.errors import install_handlers
from anomalyd.service.limits import BodyLimitMiddleware
from anomalyd.service.replicas import ReplicaElection
from anomalyd.service.routers import (
    chart,
    dashboard,
    detect,
    detectors,
    evaluations,
    health,
    metrics,
    points,
    remote_write,
    series,
    stats,
)
from anomalyd.service.settings import Settings
from anomalyd.service.telemetry import SeriesCollector, Telemetry

DESCRIPTION = """Streaming time-series anomaly detection.

Write points (REST or Prometheus remote-write), get a calibrated `anomaly_score` per point
(1.0 is the alert line: alert on `anomaly_score > 1`), read scores back or scrape `/metrics`.
"""


def create_app(settings: Settings, registry: CollectorRegistry) -> FastAPI:
    """Build the app; the engine (store recovery, scheduler) starts with the app's lifespan."""
    telemetry = Telemetry(registry)
    engine = Engine(settings, telemetry)
    registry.register(SeriesCollector(engine.snapshot))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        await run_in_threadpool(engine.start)
        try:
            yield
        finally:
            await run_in_threadpool(engine.stop)

    app = FastAPIOffline(  # /docs and /redoc with their files from the package, not a CDN
        title="anomalyd",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.telemetry = telemetry
    app.state.engine = engine
    app.state.replicas = ReplicaElection(settings.remote_write_failover_s)
    install_handlers(app)
    routers = (series, points, chart, stats, detect, detectors, evaluations, remote_write)
    for module in (*routers, metrics, health):
        app.include_router(module.router)
    dashboard.mount(app)
    app.add_middleware(BodyEncodingMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)  # the outer one
    return app
