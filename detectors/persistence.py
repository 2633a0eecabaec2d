"""A fitted detector as bytes: its arrays in safetensors, everything else in JSON (never pickle).

``detector.json`` holds the format version, the detector's registered name, its parameters and
its fitted non-array state; ``state.safetensors`` its fitted arrays. ``anomalyd.detectors.registry``
reads both back (``load``, ``from_bytes``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from anomalyd.detectors.base import Detector

STATE_FILE = "state.safetensors"
META_FILE = "detector.json"
FORMAT_VERSION = 1


def to_bytes(det: Detector) -> tuple[str, bytes]:
    """``(detector.json text, state.safetensors bytes)`` of fitted ``det``, in memory.

    Raises NotFittedError before fit.
    """
    from safetensors.numpy import save

    det._check_fitted()
    arrays = {k: np.ascontiguousarray(v) for k, v in det.state_arrays().items()}
    doc = {
        "format_version": FORMAT_VERSION,
        "detector": det.name,
        "params": det.get_params(),
        "state": _jsonable(det.state_meta()),
    }
    return json.dumps(doc, indent=1, sort_keys=True), save(arrays)


def save(det: Detector, path: str | Path) -> None:
    """Write ``state.safetensors`` + ``detector.json`` of fitted ``det`` into folder ``path``."""
    meta, state = to_bytes(det)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).write_bytes(state)
    (folder / META_FILE).write_text(meta)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
