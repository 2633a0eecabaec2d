"""Detector <-> bytes, through the contract's own ``Detector.save`` / ``registry.load``.

The files ``Detector.save`` writes (safetensors + JSON, never pickle) are stored as blobs in
SQLite so a model, its calibration and the scores it produced commit in one transaction.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from detectors import registry
from detectors.base import META_FILE, STATE_FILE, Detector


def dump_detector(detector: Detector) -> tuple[str, bytes]:
    """``(detector.json text, state.safetensors bytes)`` of a fitted detector."""
    with tempfile.TemporaryDirectory(prefix="anomalyd-model-") as tmp:
        folder = Path(tmp)
        detector.save(folder)
        return (folder / META_FILE).read_text(), (folder / STATE_FILE).read_bytes()


def load_detector(meta: str, state: bytes) -> Detector:
    """Inverse of :func:`dump_detector`."""
    with tempfile.TemporaryDirectory(prefix="anomalyd-model-") as tmp:
        folder = Path(tmp)
        (folder / META_FILE).write_text(meta)
        (folder / STATE_FILE).write_bytes(state)
        return registry.load(folder)
