"""``POST /api/v1/write``: Prometheus remote-write 1.0 and 2.0 receiver (protobuf + snappy)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from anomalyd.service import remote_write, remote_write_v2
from anomalyd.service.deps import EngineDep, ReplicasDep, SettingsDep, TelemetryDep, WriteAccess
from anomalyd.service.engine import REMOTE_WRITE_SOURCE, Engine, Incoming, Refused
from anomalyd.service.errors import BadRequest, UnsupportedMediaType, http_error
from anomalyd.service.faults import Refusal

router = APIRouter(tags=["remote-write"])
PATH = "/api/v1/write"


PROTO_V1 = remote_write.PROTO
DECODERS = {PROTO_V1: remote_write.decode, remote_write_v2.PROTO: remote_write_v2.decode_v2}
"""The messages this receiver decodes, by the ``proto=`` parameter of their Content-Type."""


def _proto(request: Request) -> str:
    """The message a request holds; 415 for anything but snappy-compressed protobuf of a
    message this receiver decodes (the 2.0 spec: a sender may then fall back to 1.0)."""
    encoding = request.headers.get("content-encoding", "snappy").lower()
    if encoding != "snappy":
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported; remote-write bodies are snappy."
        )
    ctype, _, params = request.headers.get("content-type", "application/x-protobuf").partition(";")
    proto = _param(params, "proto")
    proto = PROTO_V1 if proto is None else proto
    if ctype.strip().lower() != "application/x-protobuf" or proto not in DECODERS:
        raise UnsupportedMediaType(
            f"Content-Type {request.headers['content-type']!r} is not supported; send "
            f"application/x-protobuf with proto={PROTO_V1} (remote-write 1.0, the default) "
            f"or proto={remote_write_v2.PROTO} (2.0)."
        )
    return proto


def _written(samples: int) -> dict[str, str]:
    """The 2.0 spec's response headers: what was written (histograms and exemplars never)."""
    prefix = "X-Prometheus-Remote-Write"
    return {
        f"{prefix}-Samples-Written": str(samples),
        f"{prefix}-Histograms-Written": "0",
        f"{prefix}-Exemplars-Written": "0",
    }


def _param(params: str, name: str) -> str | None:
    """The value of parameter ``name`` in the ``;``-separated ``params`` of a media type."""
    for item in params.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return None


def _ingest(engine: Engine, decoded: remote_write.Decoded) -> list[Refused]:
    items = [Incoming(s.series_id, s.ts, s.values, s.labels) for s in decoded.series]
    return engine.ingest_each(items, REMOTE_WRITE_SOURCE) if items else []


def _refusal(
    decoded: remote_write.Decoded,
    refused: list[Refused],
    accepted: int,
    headers: dict[str, str] | None,
) -> BadRequest:
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
        f"Refused {n_refused} sample(s); the other {accepted} are stored. " + "; ".join(parts),
        headers=headers,
    )


@router.post(
    PATH,
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

    Remote-write 1.0 (`application/x-protobuf`, optionally `;proto=prometheus.WriteRequest`)
    and 2.0 (`;proto=io.prometheus.write.v2.Request`, answered with the
    `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written` headers). Native
    histograms are refused per series; exemplars are counted and not stored.

    Every valid sample is stored. Samples that cannot be (out of order, a timestamp already
    stored or sent with another value, a series with invalid labels) are refused one by one:
    the answer is then 400 saying what was refused, as Mimir and Cortex answer, so that
    Prometheus moves on. Non-finite samples (staleness markers, NaN, Inf) are not data, and
    with `ANOMALYD_REMOTE_WRITE_REPLICA_LABEL` set only one HA replica's samples of a series
    are kept: the others are skipped without an error. All are counted in
    `anomalyd_points_rejected_total{source="remote_write",reason=...}`.
    """
    proto = _proto(request)
    body = await request.body()
    try:
        decoded = DECODERS[proto](
            body,
            max_decompressed=settings.max_decompressed_bytes,
            max_samples=settings.max_points_per_request,
            replica_label=settings.remote_write_replica_label,
        )
    except Refusal:
        telemetry.rejected.labels(REMOTE_WRITE_SOURCE, "malformed").inc()
        raise
    remote_write.refuse_after(decoded, time.time() + settings.remote_write_future_s)
    remote_write.refuse_out_of_range(decoded)
    decoded.series, decoded.skipped["ha_replica"] = replicas.keep(decoded.series)
    v2 = proto != PROTO_V1
    try:
        refused = await run_in_threadpool(_ingest, engine, decoded)
    except Refusal as exc:  # e.g. 429: nothing stored
        raise http_error(exc, _written(0) if v2 else None) from exc
    for reason, n in decoded.skipped.items():
        if n:
            telemetry.rejected.labels(REMOTE_WRITE_SOURCE, reason).inc(n)
    for r in decoded.refused + refused:
        telemetry.rejected.labels(REMOTE_WRITE_SOURCE, r.reason).inc(r.n_points)
    accepted = decoded.n_samples - sum(r.n_points for r in refused)
    headers = _written(accepted) if v2 else None
    if decoded.refused or refused:
        raise _refusal(decoded, decoded.refused + refused, accepted, headers)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
