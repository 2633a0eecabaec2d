"""Registry: detector name -> class, with each class's parameter schema.

Classes are imported lazily so a detector whose optional dependency is missing (THEMIS needs
the ``chronos`` extra) only fails when it is asked for, with a message naming the extra.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from anomalyd.detectors.base import Detector
from anomalyd.detectors.persistence import FORMAT_VERSION, META_FILE, STATE_FILE

_CLASSES: dict[str, str] = {
    "mad": "anomalyd.detectors.mad:RollingMAD",
    "residual": "anomalyd.detectors.residual:ForecastResidual",
    "iforest": "anomalyd.detectors.iforest:IsolationForestDetector",
    "subpca": "anomalyd.detectors.subpca:SubPCA",
    "lof": "anomalyd.detectors.lof:WindowLOF",
    "kmeans": "anomalyd.detectors.kmeans:WindowKMeans",
    "mp": "anomalyd.detectors.matrixprofile:MatrixProfile",
    "ae": "anomalyd.detectors.apre:PlainAE",
    "apre": "anomalyd.detectors.apre:APRE",
    "themis": "anomalyd.detectors.themis:Themis",
    "ensemble": "anomalyd.detectors.ensemble:Ensemble",
    "perchannel": "anomalyd.detectors.perchannel:PerChannel",
    "constant": "anomalyd.detectors.constant:ConstantLevel",
}

DEFAULT_DETECTOR = "ensemble"
"""Best mean VUS-PR on the development benchmark among detectors that need no network."""


def names() -> list[str]:
    """Registered detector names."""
    return sorted(_CLASSES)


def get_class(name: str) -> type[Detector]:
    """The class registered under ``name``; ValueError listing the known names otherwise."""
    if name not in _CLASSES:
        raise ValueError(f"Unknown detector {name!r}. Known detectors: {', '.join(names())}.")
    module, attr = _CLASSES[name].split(":")
    cls: type[Detector] = getattr(importlib.import_module(module), attr)
    return cls


def create(name: str, params: dict[str, Any] | None = None) -> Detector:
    """Instantiate ``name`` with ``params``; unknown parameter names are refused clearly."""
    cls = get_class(name)
    known = {p.name for p in cls.params}
    unknown = sorted(set(params or {}) - known)
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {', '.join(unknown)} for detector {name!r}. "
            f"Known parameters: {', '.join(sorted(known))}."
        )
    return cls(**(params or {}))


def schema(name: str) -> dict[str, Any]:
    """Parameter JSON schema of ``name``."""
    return get_class(name).param_schema()


def load(path: str | Path) -> Detector:
    """Load a detector saved with ``Detector.save`` (safetensors + JSON; never pickle)."""
    folder = Path(path)
    meta = (folder / META_FILE).read_text()
    return from_bytes(meta, (folder / STATE_FILE).read_bytes(), source=str(folder / META_FILE))


def from_bytes(meta: str, state: bytes, *, source: str = "the model") -> Detector:
    """The detector ``Detector.to_bytes`` gave ``(meta, state)`` for. Raises ValueError when
    ``meta`` has another format version (``source`` names it in the message)."""
    from safetensors.numpy import load

    doc = json.loads(meta)
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{source} has format_version {doc.get('format_version')!r}; "
            f"this anomalyd reads version {FORMAT_VERSION}."
        )
    det = create(doc["detector"], doc["params"])
    arrays: dict[str, np.ndarray] = dict(load(state))
    det.load_state(arrays, doc["state"])
    return det
