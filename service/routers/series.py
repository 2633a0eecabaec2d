"""``/v1/series``: create, configure, list, inspect and delete series."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from anomalyd.service.deps import EngineDep, SeriesId, WriteAccess
from anomalyd.service.durations import setting_points
from anomalyd.service.engine import Engine
from anomalyd.service.errors import Unprocessable
from anomalyd.service.routers.views import series_view
from anomalyd.service.schemas import SeriesConfigRequest, SeriesListResponse, SeriesResponse
from anomalyd.service.series import MAX_TRAIN_POINTS, STATUSES, SeriesConfig
from anomalyd.service.telemetry import LABEL_NAME, RESERVED

router = APIRouter(prefix="/v1/series", tags=["series"])


def _config(engine: Engine, series_id: str, body: SeriesConfigRequest) -> SeriesConfig:
    base = engine.default_config()
    detector = body.detector if body.detector is not None else base.detector
    default_params = base.params if detector == base.detector else {}
    train = _points(engine, series_id, "train_points", body.train_points, base.train_points)
    if not 1 <= train <= MAX_TRAIN_POINTS:
        raise Unprocessable(
            f"`train_points` {body.train_points!r} is {train:,} points at this series' step; "
            f"it must be 1 to {MAX_TRAIN_POINTS:,}."
        )
    return SeriesConfig(
        detector=detector,
        params=body.params if body.params is not None else default_params,
        train_points=train,
        refit_every=_points(engine, series_id, "refit_every", body.refit_every, base.refit_every),
        quantile=body.quantile if body.quantile is not None else base.quantile,
    )


def _points(
    engine: Engine, series_id: str, name: str, value: int | str | None, default: int
) -> int:
    """A setting in points: as given, the default, or a duration at the series' step."""
    try:
        return setting_points(name, value, default, lambda: engine.step_seconds(series_id))
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc


def _labels(series_id: str, labels: dict[str, str] | None) -> dict[str, str] | None:
    if labels is None:
        return None
    for name in labels:
        if not LABEL_NAME.match(name) or name.startswith("__") or name == "series":
            raise Unprocessable(
                f"labels: {name!r} cannot be used: a label name matches [a-zA-Z_][a-zA-Z0-9_]*, "
                "does not start with __ and is not `series` (set by the service)."
            )
        if name in RESERVED:
            raise Unprocessable(f"labels: {name!r} is reserved for the service's own label.")
    return {"series": series_id, **labels}


@router.put(
    "/{series_id}",
    response_model=SeriesResponse,
    dependencies=[WriteAccess],
    responses={201: {"model": SeriesResponse, "description": "Created."}},
)
def put_series(
    series_id: SeriesId,
    engine: EngineDep,
    response: Response,
    body: Annotated[SeriesConfigRequest | None, Body()] = None,
) -> SeriesResponse:
    """Create a series or change how it is scored (no body: the service defaults).

    A changed configuration drops the model: the next one is trained on the latest
    `train_points` points and scores from the current end of the series on. A series with an
    id of the remote-write form (`rw-` and 20 hex digits) can be reconfigured, not created
    (422).
    """
    body = body or SeriesConfigRequest.model_validate({})
    state, created = engine.configure(
        series_id, _config(engine, series_id, body), _labels(series_id, body.labels)
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return series_view(state)


@router.get("", response_model=SeriesListResponse)
def list_series(engine: EngineDep) -> SeriesListResponse:
    """Every series with its status (warming_up, fitting, ready, failed) and counts."""
    views = [series_view(s) for s in engine.snapshot()]
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for v in views:
        counts[v.status] += 1
    return SeriesListResponse(series=sorted(views, key=lambda v: v.id), counts=counts)


@router.get("/{series_id}", response_model=SeriesResponse)
def get_series(series_id: SeriesId, engine: EngineDep) -> SeriesResponse:
    """One series."""
    return series_view(engine.get(series_id))


@router.delete("/{series_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteAccess])
def delete_series(series_id: SeriesId, engine: EngineDep) -> Response:
    """Delete a series, its points, scores and model."""
    engine.delete(series_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
