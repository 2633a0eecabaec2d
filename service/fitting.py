"""Fitting models off the scoring thread: what a fit is asked for, the fit itself, and the
worker pool that runs queued fits in batches.

A fit reads its training span from the store (``anomalyd.service.training``: up to
``train_points`` points before its boundary, incidents masked), fits detector and alert line,
and prepares the model for streaming, all on a fit worker. The result goes back to the scheduler
thread, which installs it once every point before its boundary is scored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.detectors.crossfit import Calibrated, fit_calibrated_many
from anomalyd.service.modelio import dump_detector
from anomalyd.service.series import FitResult, SeriesConfig, SeriesState
from anomalyd.service.storage import Store
from anomalyd.service.training import fit_model, training_values

log = logging.getLogger("anomalyd.fitting")
Deliver = Callable[[list["FitRequest"], list[FitResult]], None]


@dataclass(eq=False)
class FitRequest:
    """A fit the scheduler asked for: ``config``'s detector on the points before ``boundary``."""

    state: SeriesState
    config: SeriesConfig
    boundary: int
    n_channels: int
    generation: int


def fit_job(store: Store, req: FitRequest) -> FitResult:
    """Fit detector + calibrator on the training span before ``req.boundary``
    (``anomalyd.service.training``: up to ``train_points`` points, alerted points masked)."""
    started = time.perf_counter()
    result = FitResult(generation=req.generation, boundary=req.boundary)
    try:
        train, context = _training_values(store, req)
        _fill(result, fit_model(req.config, train, context), context)
    except Exception as exc:  # a failed fit marks the series, it never stops the service
        log.warning("fit of series %s failed: %s", req.state.id, exc)
        result = _failed(req, exc)
    result.seconds = time.perf_counter() - started
    return result


def fit_batch(store: Store, requests: list[FitRequest]) -> list[FitResult]:
    """Fit many series; those with the same detector fit together (``fit_calibrated_many``:
    the autoencoders train stacked). Should that fail, each series of the group is fitted on
    its own, so one bad series only fails itself. ``seconds`` = the group's time per series.
    """
    groups: dict[str, list[int]] = {}
    for i, req in enumerate(requests):
        groups.setdefault(req.config.detector, []).append(i)
    results: dict[int, FitResult] = {}
    for idx in groups.values():
        reqs = [requests[i] for i in idx]
        done = _fit_together(store, reqs) if len(reqs) > 1 else None
        if done is None:
            done = [fit_job(store, req) for req in reqs]
        results.update(zip(idx, done, strict=True))
    return [results[i] for i in range(len(requests))]


def _fit_together(store: Store, reqs: list[FitRequest]) -> list[FitResult] | None:
    started = time.perf_counter()
    try:
        trains, contexts = zip(*(_training_values(store, req) for req in reqs), strict=True)
        dets = [registry.create(req.config.detector, req.config.params) for req in reqs]
        quantiles = [req.config.quantile for req in reqs]
        cals = fit_calibrated_many(list(zip(dets, trains, strict=True)), quantiles=quantiles)
        results = [FitResult(generation=req.generation, boundary=req.boundary) for req in reqs]
        for result, fitted, context in zip(results, cals, contexts, strict=True):
            _fill(result, fitted, context)
    except Exception as exc:
        log.info("batched fit of %d series failed (%s); fitting them one by one", len(reqs), exc)
        return None
    for result in results:
        result.seconds = (time.perf_counter() - started) / len(reqs)
    return results


def _failed(req: FitRequest, exc: Exception) -> FitResult:
    result = FitResult(generation=req.generation, boundary=req.boundary)
    result.error = f"fit failed: {exc}"
    return result


def _training_values(
    store: Store, req: FitRequest
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(training values with incidents masked, the span's values as read: the context)."""
    lo = max(req.boundary - req.config.train_points, 0)
    pts = store.read_range(req.state.id, lo, req.boundary, req.n_channels)
    return training_values(req.config, pts.values, pts.score)


def _fill(result: FitResult, fitted: Calibrated, context: npt.NDArray[np.float64]) -> None:
    det = fitted.detector
    result.meta, result.state = dump_detector(det)
    det.prepare_streaming()  # here on the fit worker, not on the scheduler's scoring thread
    result.detector, result.calibrator, result.context = det, fitted.calibrator, context
    result.calibration = fitted.calibration


class FitPool:
    """Runs fit requests on ``workers`` threads, queued ones in batches of up to ``batch_max``
    series (``fit_batch``), and hands each batch's results to ``deliver`` (called on the
    worker thread)."""

    def __init__(self, store: Store, workers: int, batch_max: int, deliver: Deliver) -> None:
        self._store, self._workers, self._batch_max = store, workers, batch_max
        self._deliver = deliver
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="anomalyd-fit")
        self._lock = threading.Lock()
        self._queue: deque[FitRequest] = deque()
        self._running = 0
        self._stopping = False

    def submit(self, req: FitRequest) -> None:
        """Queue a fit; it starts as soon as a worker is free."""
        with self._lock:
            self._queue.append(req)
        self._pump()

    def stop(self) -> None:
        """Start no more fits; queued ones are dropped, running ones finish unheard."""
        with self._lock:  # no _pump between the flag and the shutdown
            self._stopping = True
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _pump(self) -> None:
        """Hand queued fits to free workers, up to ``batch_max`` series per batch."""
        started = []
        with self._lock:
            while self._queue and self._running < self._workers and not self._stopping:
                n = min(len(self._queue), self._batch_max)
                batch = [self._queue.popleft() for _ in range(n)]
                self._running += 1
                started.append((batch, self._pool.submit(fit_batch, self._store, batch)))
        for batch, fut in started:  # outside the lock: a finished future calls back at once
            fut.add_done_callback(partial(self._done, batch))

    def _done(self, batch: list[FitRequest], fut: Future[list[FitResult]]) -> None:
        with self._lock:
            self._running -= 1
        if fut.cancelled():
            return
        try:
            results = fut.result()
        except Exception as exc:  # fit_batch reports failures per series; this is a bug guard
            log.exception("fit batch failed")
            results = [_failed(req, exc) for req in batch]
        self._deliver(batch, results)
        self._pump()
