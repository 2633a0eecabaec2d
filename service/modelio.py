"""Detector <-> bytes, through the contract's own ``Detector.to_bytes`` /
``registry.from_bytes`` (safetensors + JSON, never pickle), in memory.

The bytes are stored as blobs in SQLite so a model, its calibration and the scores it produced
commit in one transaction.
"""

from __future__ import annotations

from anomalyd.detectors import registry
from anomalyd.detectors.base import Detector


def dump_detector(detector: Detector) -> tuple[str, bytes]:
    """``(detector.json text, state.safetensors bytes)`` of a fitted detector."""
    return detector.to_bytes()


def load_detector(meta: str, state: bytes) -> Detector:
    """Inverse of :func:`dump_detector`."""
    return registry.from_bytes(meta, state)
