"""Scoring algorithms: pure numpy / numba / torch, no I/O.

Every detector follows :class:`anomalyd.detectors.base.Detector`: raw score per point, higher = more
anomalous, causal. Look detectors up by name in :mod:`anomalyd.detectors.registry`.
"""

from anomalyd.detectors.base import Calibrator, Detector, NotFittedError, Param
from anomalyd.detectors.registry import DEFAULT_DETECTOR, create, get_class, load, names
from anomalyd.detectors.streaming import StreamScorer

__all__ = [
    "DEFAULT_DETECTOR",
    "Calibrator",
    "Detector",
    "NotFittedError",
    "Param",
    "StreamScorer",
    "create",
    "get_class",
    "load",
    "names",
]
