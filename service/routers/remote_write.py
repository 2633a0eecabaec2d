"""``POST /api/v1/write``: Prometheus remote-write 1.0 receiver (protobuf + snappy)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service import remote_write
from service.deps import EngineDep, ReplicasDep, SettingsDep, TelemetryDep, WriteAccess
from service.engine import Engine, Incoming, Refused
from service.errors import ApiError, BadRequest, UnsupportedMediaType

router = APIRouter(tags=["remote-write"])

SOURCE = "remote_write"


PROTO_V1 = "prometheus.WriteRequest"


def _check_headers(request: Request) -> None:
    """415 for anything but snappy-compressed protobuf of a message this receiver decodes
    (the remote-write 2.0 spec: a sender falls back to 1.0 on 415)."""
    encoding = request.headers.get("content-encoding", "snappy").lower()
    if encoding != "snappy":
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported; remote-write bodies are snappy."
        )
    ctype, _, params = request.headers.get("content-type", "application/x-protobuf").partition(";")
    proto = _param(params, "proto") or PROTO_V1
    if ctype.strip().lower() != "application/x-protobuf" or proto != PROTO_V1:
        raise UnsupportedMediaType(
            f"Content-Type {request.headers['content-type']!r} is not supported; send "
            f"application/x-protobuf (proto={PROTO_V1}, Prometheus remote-write 1.0)."
        )


def _param(params: str, name: str) -> str | None:
    """The value of parameter ``name`` in the ``;``-separated ``params`` of a media type."""
    for item in params.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return None


def _ingest(engine: Engine, decoded: remote_write.Decoded) -> list[Refused]:
    items = [Incoming(s.series_id, s.ts, s.values, s.labels) for s in decoded.series]
    return engine.ingest_each(items, SOURCE) if items else []


def _refusal(decoded: remote_write.Decoded, refused: list[Refused], accepted: int) -> BadRequest:
    """400 naming each reason's count and first case: the valid samples are stored, and
    Prometheus drops a batch answered 4xx without retrying (what Mimir and Cortex do)."""
    names = {s.series_id: remote_write.canonical(s.labels) for s in decoded.series}
    parts = []
    for reason in dict.fromkeys(r.reason for r in refused):
        cases = [r for r in refused if r.reason == reason]
        parts.append(
            f"{reason}: {sum(r.n_points for r in cases)} sample(s), the first of series "
            f"{names.get(cases[0].series, cases[0].series)}: {cases[0].detail}"
        )
    n_refused = sum(r.n_points for r in refused)
    return BadRequest(
        f"Refused {n_refused} sample(s); the other {accepted} are stored. " + "; ".join(parts)
    )


@router.post(
    "/api/v1/write",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[WriteAccess],
    responses={
        400: {"description": "Malformed snappy or protobuf, or samples refused (the rest stored)."},
        413: {"description": "Too many samples or too large a body."},
        415: {"description": "Not snappy-compressed protobuf of a supported message."},
        429: {"description": "Scoring queue full; nothing stored, Prometheus retries."},
    },
)
async def write(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    telemetry: TelemetryDep,
    replicas: ReplicasDep,
) -> Response:
    """Each labelset becomes a series (id `rw-<hash>`, its labels kept for /metrics).

    Every valid sample is stored. Samples that cannot be (out of order, a timestamp already
    stored or sent with another value, a series with invalid labels) are refused one by one:
    the answer is then 400 saying what was refused, as Mimir and Cortex answer, so that
    Prometheus moves on. Non-finite samples (staleness markers, NaN, Inf) are not data, and
    with `ANOMALYD_REMOTE_WRITE_REPLICA_LABEL` set only one HA replica's samples of a series
    are kept: the others are skipped without an error. All are counted in
    `anomalyd_points_rejected_total{source="remote_write",reason=...}`.
    """
    _check_headers(request)
    body = await request.body()
    try:
        decoded = remote_write.decode(
            body,
            max_decompressed=settings.max_decompressed_bytes,
            max_samples=settings.max_points_per_request,
            replica_label=settings.remote_write_replica_label,
        )
    except ApiError:
        telemetry.rejected.labels(SOURCE, "malformed").inc()
        raise
    decoded.series, decoded.skipped["ha_replica"] = replicas.keep(decoded.series)
    refused = await run_in_threadpool(_ingest, engine, decoded)  # 429: nothing stored
    for reason, n in decoded.skipped.items():
        if n:
            telemetry.rejected.labels(SOURCE, reason).inc(n)
    for r in decoded.refused + refused:
        telemetry.rejected.labels(SOURCE, r.reason).inc(r.n_points)
    if decoded.refused or refused:
        accepted = decoded.n_samples - sum(r.n_points for r in refused)
        raise _refusal(decoded, decoded.refused + refused, accepted)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
