"""``GET /v1/detectors``: registered detectors and their parameter schemas."""

from __future__ import annotations

from fastapi import APIRouter

from anomalyd.detectors import registry
from anomalyd.service.deps import SettingsDep
from anomalyd.service.schemas import DetectorInfo, DetectorsResponse

router = APIRouter(prefix="/v1", tags=["detectors"])


def _info(name: str, default: str) -> DetectorInfo:
    try:
        schema = registry.schema(name)
    except ImportError as exc:  # registered, but its module or extra is not installed
        return DetectorInfo(name=name, default=name == default, available=False, error=str(exc))
    return DetectorInfo(name=name, default=name == default, available=True, params_schema=schema)


@router.get("/detectors", response_model=DetectorsResponse)
def list_detectors(settings: SettingsDep) -> DetectorsResponse:
    """Every registered detector; `available` is false when it cannot be loaded here."""
    default = settings.default_detector
    return DetectorsResponse(
        default=default, detectors=[_info(n, default) for n in registry.names()]
    )
