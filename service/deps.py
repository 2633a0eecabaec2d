"""Typed FastAPI dependencies: settings, engine, telemetry and the bearer-token check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from anomalyd.service.engine import Engine
from anomalyd.service.errors import Unauthorized, Unavailable
from anomalyd.service.parsing import check_series_id
from anomalyd.service.replicas import ReplicaElection
from anomalyd.service.settings import Settings
from anomalyd.service.telemetry import Telemetry

_bearer = HTTPBearer(auto_error=False, description="Required when ANOMALYD_API_TOKEN is set.")


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The running engine (503 while starting or stopping)."""
    engine: Engine = request.app.state.engine
    if not engine.started:
        raise Unavailable("The service is starting or stopping; retry shortly.")
    return engine


def get_telemetry(request: Request) -> Telemetry:
    """The app's self-monitoring metrics."""
    telemetry: Telemetry = request.app.state.telemetry
    return telemetry


def get_replicas(request: Request) -> ReplicaElection:
    """The remote-write HA replica election."""
    replicas: ReplicaElection = request.app.state.replicas
    return replicas


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReplicasDep = Annotated[ReplicaElection, Depends(get_replicas)]
EngineDep = Annotated[Engine, Depends(get_engine)]
TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless ``Authorization: Bearer <ANOMALYD_API_TOKEN>`` (when a token is set)."""
    if settings.api_token is None:
        return
    expected = settings.api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    if credentials is None or not hmac.compare_digest(given, expected):
        raise Unauthorized(
            "This endpoint needs the header `Authorization: Bearer <token>` with the service's "
            "API token (ANOMALYD_API_TOKEN).",
            headers={"WWW-Authenticate": "Bearer"},
        )


def series_id_param(series_id: Annotated[str, Path(description="Series id.")]) -> str:
    """The path's series id, validated."""
    return check_series_id(series_id)


WriteAccess = Depends(require_token)
TimeQuery = Annotated[str | None, Query(description="Unix seconds or RFC 3339; omitted: open.")]
SeriesId = Annotated[str, Depends(series_id_param)]
