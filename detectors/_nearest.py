"""Window detectors scored by the distance to the nearest of a set of reference rows."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Self

import numpy as np

from anomalyd.detectors._kernels import KIND_NEAREST, Records, nearest_rows, record, score_records
from anomalyd.detectors._windows import WindowDetector
from anomalyd.detectors.base import FloatArray


class NearestWindowDetector(WindowDetector):
    """Score = Euclidean distance from a window's features to the nearest reference row, on the
    array path and in the compiled streaming kernel (``KIND_NEAREST``) alike."""

    @abc.abstractmethod
    def _references(self) -> FloatArray:
        """The fitted reference rows, shape (n_references, window * n_channels)."""

    def _score_windows(self, w: FloatArray) -> FloatArray:
        feats = np.ascontiguousarray(self._features(w), dtype=np.float64)
        return nearest_rows(feats, self._references())

    @classmethod
    def _score_stream_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        return score_records(items)

    def stream_record(self) -> Records:
        refs = self._references()
        return record(self, KIND_NEAREST, (refs,), refs.shape)
