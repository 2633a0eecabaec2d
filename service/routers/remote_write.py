"""``POST /api/v1/write``: Prometheus remote-write 1.0 receiver (protobuf + snappy)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service import remote_write
from service.deps import EngineDep, SettingsDep, TelemetryDep, WriteAccess
from service.engine import Engine, Incoming
from service.errors import ApiError, UnsupportedMediaType

router = APIRouter(tags=["remote-write"])

SOURCE = "remote_write"


def _check_headers(request: Request) -> None:
    encoding = request.headers.get("content-encoding", "snappy").lower()
    if encoding != "snappy":
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported; remote-write bodies are snappy."
        )
    ctype = request.headers.get("content-type", "application/x-protobuf").split(";")[0].strip()
    if ctype != "application/x-protobuf":
        raise UnsupportedMediaType(
            f"Content-Type {ctype!r} is not supported; send application/x-protobuf "
            "(Prometheus remote-write 1.0)."
        )


def _ingest(engine: Engine, decoded: remote_write.Decoded) -> None:
    items = [Incoming(s.series_id, s.ts, s.values, s.labels) for s in decoded.series]
    if items:
        engine.ingest(items, SOURCE, wait=False)


@router.post(
    "/api/v1/write",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[WriteAccess],
    responses={
        400: {"description": "Malformed snappy or protobuf."},
        409: {"description": "A stored sample would change."},
        413: {"description": "Too many samples or too large a body."},
        422: {"description": "Out-of-order samples or a changed channel count."},
        429: {"description": "Scoring queue full; Prometheus retries."},
    },
)
async def write(
    request: Request, engine: EngineDep, settings: SettingsDep, telemetry: TelemetryDep
) -> Response:
    """Each labelset becomes a series (id `rw-<hash>`, its labels kept for /metrics).

    Non-finite samples (staleness markers, NaN, Inf) are skipped and counted in
    `anomalyd_points_rejected_total{source="remote_write",reason=...}`. Anything else that is
    wrong refuses the whole request (nothing is stored).
    """
    _check_headers(request)
    body = await request.body()
    try:
        decoded = remote_write.decode(
            body,
            max_decompressed=settings.max_decompressed_bytes,
            max_samples=settings.max_points_per_request,
        )
    except ApiError:
        telemetry.rejected.labels(SOURCE, "malformed").inc()
        raise
    for reason, n in decoded.skipped.items():
        telemetry.rejected.labels(SOURCE, reason).inc(n)
    try:
        await run_in_threadpool(_ingest, engine, decoded)
    except ApiError as exc:
        if exc.status_code != 429:  # 429s are counted by the engine
            reason = "conflict" if exc.status_code == 409 else "invalid"
            telemetry.rejected.labels(SOURCE, reason).inc(decoded.n_samples)
        raise
    return Response(status_code=status.HTTP_204_NO_CONTENT)
