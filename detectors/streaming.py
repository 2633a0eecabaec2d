"""Incremental scoring of one series or many: the same scores as ``Detector.score`` on the
whole history, from the last ``context_length`` points and the new ones.

Many series are grouped by detector class into batched ``_score_many`` calls, and a batch of a
class whose work releases the GIL (``split_batches``) can be cut into parts that several
threads take in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.base import Detector, FloatArray, as_2d


class StreamScorer:
    """Incremental scoring: keeps the last ``context_length`` points of one series.

    ``update(new)`` returns the scores of the new points and equals ``detector.score`` on the
    whole history (the detector's state is frozen between fits, and scores are causal).
    """

    def __init__(self, detector: Detector, context: npt.ArrayLike | None = None) -> None:
        self.detector = detector
        detector.prepare_streaming()
        width = detector.context_length
        empty = np.empty((0, detector.n_channels_))
        self.context = empty if context is None else as_2d(context, name="context")[-width:]
        if width == 0:
            self.context = empty

    def window_for(self, new: npt.ArrayLike) -> FloatArray:
        """The array to score: context followed by the new points."""
        x = self.detector._check_input(new)
        return np.concatenate([self.context, x])

    def advance(self, full: FloatArray, n_new: int, scores: FloatArray) -> FloatArray:
        """Keep the tail of ``full`` as the next context and return the new points' scores."""
        width = self.detector.context_length
        self.context = full[max(len(full) - width, 0) :] if width else full[:0]
        return scores[len(scores) - n_new :]

    def update(self, new: npt.ArrayLike) -> FloatArray:
        """Score new points of this series."""
        full = self.window_for(new)
        n_new = len(full) - len(self.context)
        return self.advance(full, n_new, self.detector.score(full))

    @staticmethod
    def update_many(
        scorers: Sequence[StreamScorer],
        news: Sequence[npt.ArrayLike],
        *,
        pool: Executor | None = None,
        parts: int = 1,
    ) -> list[FloatArray]:
        """Score new points of many series, grouped by detector class into batched calls.

        With a ``pool`` and ``parts > 1``, the batch of a class with ``split_batches`` runs on
        up to ``parts`` threads at once (the calling thread and ``parts - 1`` of ``pool``'s),
        cut into smaller pieces that they take in turn; the scores do not depend on it.
        """
        fulls = [s.window_for(n) for s, n in zip(scorers, news, strict=True)]
        out: list[FloatArray | None] = [None] * len(scorers)
        groups: dict[type[Detector], list[int]] = {}
        for i, s in enumerate(scorers):
            groups.setdefault(type(s.detector), []).append(i)
        for cls, idx in groups.items():
            items = [(scorers[i].detector, fulls[i]) for i in idx]
            scores = _score_in_parts(cls, items, pool, parts)
            for i, sc in zip(idx, scores, strict=True):
                n_new = len(fulls[i]) - len(scorers[i].context)
                out[i] = scorers[i].advance(fulls[i], n_new, sc)
        return [o for o in out if o is not None]


#: fewer series than this per part, a batch is not split across threads
SPLIT_MIN_SERIES = 16
#: a split batch is cut into this many parts per thread, which the threads take in turn: one
#: thread that finishes early (cheaper series, or the other was descheduled) takes the rest
PARTS_PER_THREAD = 4


def _score_in_parts(
    cls: type[Detector],
    items: list[tuple[Detector, FloatArray]],
    pool: Executor | None,
    threads: int,
) -> list[FloatArray]:
    """``cls._score_many(items)``, in parts on ``pool``'s threads and this one when it pays."""
    threads = min(threads, len(items) // SPLIT_MIN_SERIES)
    if pool is None or threads < 2 or not cls.split_batches:
        return cls._score_many(items)
    n_parts = min(threads * PARTS_PER_THREAD, len(items) // SPLIT_MIN_SERIES)
    bounds = np.linspace(0, len(items), n_parts + 1).round().astype(int).tolist()
    parts = [items[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    done: list[list[FloatArray]] = [[] for _ in parts]
    todo = iter(range(len(parts)))
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            done[i] = cls._score_many(parts[i])

    helpers = [pool.submit(drain) for _ in range(threads - 1)]
    drain()
    for helper in helpers:
        helper.result()
    return [scores for part in done for scores in part]
