"""``POST /v1/detect``: score an array without storing anything."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from anomalyd.service.deps import SettingsDep
from anomalyd.service.detect import detect
from anomalyd.service.parsing import check_count, parse_values
from anomalyd.service.routers.views import anomalous, finite_or_none
from anomalyd.service.schemas import DetectRequest, DetectResponse

router = APIRouter(prefix="/v1", tags=["detect"])


@router.post("/detect", response_model=DetectResponse)
def post_detect(body: Annotated[DetectRequest, Body()], settings: SettingsDep) -> DetectResponse:
    """Fit a detector on `train` (or on `values` itself), calibrate, and score `values`."""
    total = len(body.values) + len(body.train or [])
    check_count(total, settings.max_points_per_request)
    values = parse_values(body.values, "values")
    train = parse_values(body.train, "train") if body.train else None
    name = body.detector if body.detector is not None else settings.default_detector
    params = body.params if body.params is not None else {}
    result = detect(name, params, values, train, body.quantile)
    scores = [finite_or_none(float(s)) for s in result.score]
    return DetectResponse(
        detector=result.detector,
        params=result.params,
        context_length=result.context_length,
        raw_scores=[finite_or_none(float(r)) for r in result.raw],
        anomaly_scores=scores,
        anomalous=[anomalous(s) for s in scores],
    )
