"""The scoring scheduler: one thread that micro-batches new points across series.

Ingestion stores points durably, appends them to the series' pending buffer and marks the
series dirty. The scheduler thread gathers the pending points of every dirty series (up to
``batch_max_points``), scores them in one :meth:`StreamScorer.update_many` call (grouped by
detector class; in ``score_threads`` parts at once where the detector allows), calibrates, and
commits the scores in one transaction. Fits run in a worker pool (``anomalyd.service.fitting``;
fits that queue up go in batches of up to ``fit_batch_max``) and hand their result back; the
admission budget of the queue is ``anomalyd.service.admission``. The scheduler installs a model
only when every point before its boundary has been scored, so the model of each point is fixed
by the data alone (restarts and timing never change a score). Reconfiguration and deletion
also run on this thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.base import Calibrator
from anomalyd.detectors.echo import Echo, suppress_echo
from anomalyd.detectors.streaming import StreamScorer
from anomalyd.service.admission import Admission
from anomalyd.service.faults import NotRunning
from anomalyd.service.fitting import FitPool, FitRequest
from anomalyd.service.series import NEVER, FitResult, LiveModel, SeriesState, storable_raw
from anomalyd.service.settings import Settings
from anomalyd.service.storage import ModelRow, Row, ScoreBlock, Store
from anomalyd.service.telemetry import Telemetry
from anomalyd.service.training import next_boundary

log = logging.getLogger("anomalyd.scheduler")
#: no scheduler cycle for this many ``batch_linger_s``: the next write is scored without lingering
LINGER_IDLE_FACTOR = 25
T = TypeVar("T")


@dataclass(eq=False)
class Work:
    """Points ``first .. first + n - 1`` of one series, to score with ``model`` (or none)."""

    state: SeriesState
    first: int
    values: npt.NDArray[np.float64]
    model: LiveModel | None
    raw: npt.NDArray[np.float64] | None = None
    score: npt.NDArray[np.float64] | None = None
    echo: Echo | None = None
    failure: str | None = None

    @property
    def n(self) -> int:
        return len(self.values)


class Scheduler:
    """Owns every change to models and scores; see the module docstring."""

    def __init__(self, store: Store, telemetry: Telemetry, settings: Settings) -> None:
        self.store = store
        self.telemetry = telemetry
        self.settings = settings
        self._cond = threading.Condition()
        self._dirty: dict[str, SeriesState] = {}
        self._commands: deque[tuple[Callable[[], object], Future[object]]] = deque()
        self._fit_results: deque[tuple[SeriesState, FitResult]] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.admission = Admission(settings.queue_capacity, telemetry)
        self._fit_pool = FitPool(store, settings.fit_workers, settings.fit_batch_max, self._fitted)
        self._score_pool = (
            ThreadPoolExecutor(settings.score_threads - 1, thread_name_prefix="anomalyd-score")
            if settings.score_threads > 1
            else None
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread = threading.Thread(target=self._run, name="anomalyd-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current cycle; queued commands are refused."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._fit_pool.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._score_pool is not None:
            self._score_pool.shutdown(wait=False)
        for _, fut in self._commands:
            fut.set_exception(NotRunning("The service is shutting down."))

    @property
    def alive(self) -> bool:
        """True while the scheduler thread runs."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    # ------------------------------------------------------------------ inputs
    def mark_dirty(self, *states: SeriesState) -> None:
        """The series have new points (or a fit result) to process."""
        if not states:
            return
        with self._cond:
            for state in states:
                self._dirty[state.id] = state
            self._cond.notify()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the scheduler thread (between batches) and return its result."""
        fut: Future[object] = Future()
        with self._cond:
            if self._stopping or not self.alive:
                raise NotRunning("The scoring scheduler is not running; retry shortly.")
            self._commands.append((fn, fut))
            self._cond.notify()
        return fut.result()  # type: ignore[return-value]

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        last_cycle = 0.0
        while True:
            with self._cond:
                while not (self._stopping or self._dirty or self._commands or self._fit_results):
                    self._cond.wait()
                if self._stopping:
                    return
                only_points = not (self._commands or self._fit_results)
            if only_points and self._linger(time.monotonic() - last_cycle):
                time.sleep(self.settings.batch_linger_s)
            last_cycle = time.monotonic()
            try:
                self._cycle()
            except Exception:  # keep scoring other series; the failed batch is retried
                log.exception("scheduler cycle failed; retrying in 1s")
                time.sleep(1.0)

    def _linger(self, since_last_cycle: float) -> bool:
        """Wait ``batch_linger_s`` for more writes only while writes keep coming: after an idle
        spell (no cycle for ``LINGER_IDLE_FACTOR`` lingers) a write is scored at once."""
        linger = self.settings.batch_linger_s
        return linger > 0 and since_last_cycle < LINGER_IDLE_FACTOR * linger

    def _cycle(self) -> None:
        with self._cond:
            commands = list(self._commands)
            self._commands.clear()
            fits = list(self._fit_results)
            self._fit_results.clear()
            dirty = list(self._dirty.values())
            self._dirty.clear()
        for fn, fut in commands:
            _run_command(fn, fut)
        for state, result in fits:
            self._accept_fit(state, result)
            dirty.append(state)
        dirty = list({s.id: s for s in dirty if not s.deleted}.values())
        try:
            self._process(dirty)
        except Exception:
            for state in dirty:
                self.mark_dirty(state)
            raise

    def _process(self, dirty: list[SeriesState]) -> None:
        for state in dirty:
            self._try_install(state)
        works = self._plan(dirty)
        if works:
            saved = [(w.model.scorer, w.model.scorer.context) for w in works if w.model]
            try:
                self._score(works)
                self._commit(works)
            except Exception:
                for scorer, context in saved:  # nothing was committed: rewind the streams
                    scorer.context = context
                raise
        for state in dirty:
            self._maybe_fit(state)
            if self._has_more(state):
                self.mark_dirty(state)

    # ------------------------------------------------------------------ planning and scoring
    def _plan(self, dirty: list[SeriesState]) -> list[Work]:
        budget = self.settings.batch_max_points
        works: list[Work] = []
        for state in dirty:
            if budget <= 0:
                break
            with state.lock:
                n = min(min(state.count, state.next_boundary) - state.scored, budget)
                if n <= 0 or state.deleted:
                    continue
                _, values = state.pending.peek(n)
            works.append(Work(state, state.scored, values, state.model))
            budget -= n
        return works

    def _score(self, works: list[Work]) -> None:
        todo = [w for w in works if w.model is not None]
        if not todo:
            return
        started = time.perf_counter()
        scorers = [w.model.scorer for w in todo if w.model is not None]
        saved = [s.context for s in scorers]
        try:
            parts = self.settings.score_threads
            news = [w.values for w in todo]
            raws = StreamScorer.update_many(scorers, news, pool=self._score_pool, parts=parts)
        except Exception:
            for s, ctx in zip(scorers, saved, strict=True):
                s.context = ctx
            log.exception("batched scoring failed; scoring series one by one")
            raws = [self._score_one(w) for w in todo]
        ok = [
            (w, raw, w.model.calibrator)
            for w, raw in zip(todo, raws, strict=True)
            if w.model is not None and w.failure is None
        ]
        scores = Calibrator.transform_many([c for _, _, c in ok], [raw for _, raw, _ in ok])
        for (w, raw, _), score in zip(ok, scores, strict=True):
            w.raw = storable_raw(raw)
            window = w.model.detector.echo_window  # type: ignore[union-attr]
            w.score, w.echo = suppress_echo(score, w.first, window, w.state.echo)
        self.telemetry.scoring_latency.observe(time.perf_counter() - started)
        self.telemetry.batch_points.observe(sum(w.n for w in todo))
        self.telemetry.batch_series.observe(len(todo))

    def _score_one(self, w: Work) -> npt.NDArray[np.float64]:
        scorer = w.model.scorer if w.model is not None else None
        if scorer is None:
            return np.full(w.n, np.nan)
        saved = scorer.context
        try:
            return scorer.update(w.values)
        except Exception as exc:
            scorer.context = saved
            log.exception("scoring series %s failed", w.state.id)
            self.telemetry.scoring_errors.inc()
            w.failure = f"scoring failed: {exc}"
            return np.full(w.n, np.nan)

    def _commit(self, works: list[Work]) -> None:
        rows = Store.score_rows(_score_block(w) for w in works)
        self.store.write(lambda conn: _write_scores(conn, works, rows))
        now = time.monotonic()
        waited = [now - arrived for w in works for arrived in self._advance(w)]
        self.admission.release(sum(w.n for w in works))
        for seconds in waited:
            self.telemetry.ingest_to_score.observe(seconds)

    @staticmethod
    def _advance(w: Work) -> list[float]:
        """Move the series past the work's points; the arrival times of the writes completed."""
        state = w.state
        with state.lock:
            state.scored = w.first + w.n
            arrivals = state.pending.drop(w.n)
            if w.failure is not None:
                state.model, state.error, state.next_boundary = None, w.failure, NEVER
            if w.echo is not None:
                state.echo = w.echo
            if w.raw is not None and w.score is not None and np.isfinite(w.raw[-1]):
                state.last_raw, state.last_score = float(w.raw[-1]), float(w.score[-1])
            if state.waiters:
                state.release_waiters()
        return arrivals

    def _has_more(self, state: SeriesState) -> bool:
        if state.deleted:
            return False
        ready_fit = state.fit_result is not None and state.scored >= state.fit_result.boundary
        return ready_fit or state.scored < min(state.count, state.next_boundary)

    # ------------------------------------------------------------------ fitting
    def _maybe_fit(self, state: SeriesState) -> None:
        if state.deleted or state.fitting or state.fit_result is not None:
            return
        if state.next_boundary >= NEVER or state.count < state.next_boundary:
            return
        if state.model is not None and state.scored < state.next_boundary:
            return  # the span's scores decide what is masked: wait until they are stored
        if state.n_channels is None:
            return
        state.fitting = True
        req = FitRequest(
            state, state.config, state.next_boundary, state.n_channels, state.generation
        )
        self._fit_pool.submit(req)

    def _fitted(self, batch: list[FitRequest], results: list[FitResult]) -> None:
        """A fit batch finished (on a fit worker): hand its results to the scheduler thread."""
        with self._cond:
            self._fit_results.extend(zip((r.state for r in batch), results, strict=True))
            self._cond.notify()

    def _accept_fit(self, state: SeriesState, result: FitResult) -> None:
        if result.generation != state.generation or state.deleted:
            return  # the series was reconfigured or deleted while this fit ran
        state.fitting = False
        state.fit_result = result

    def _try_install(self, state: SeriesState) -> None:
        result = state.fit_result
        if result is None or state.scored < result.boundary:
            return
        state.fit_result = None
        name = state.config.detector
        if result.error is not None:
            self.telemetry.fit_failures.labels(name).inc()
            self._fit_failed(state, result, result.error)
            return
        self.telemetry.fits.labels(name).inc()
        self.telemetry.fit_seconds.observe(result.seconds)
        self._install(state, result)

    def _fit_failed(self, state: SeriesState, result: FitResult, error: str) -> None:
        boundary = NEVER
        if state.model is not None:
            boundary = next_boundary(state.config, result.boundary)
        with self.store.transaction() as conn:
            Store.record_fit_failure(conn, state.id, error, boundary)
        with state.lock:
            state.error, state.next_boundary = error, boundary

    def _install(self, state: SeriesState, result: FitResult) -> None:
        det, cal = result.detector, result.calibrator
        if det is None or cal is None:
            return
        version = state.model_version + 1
        boundary = next_boundary(state.config, result.boundary)
        calibration = {**cal.to_dict(), "method": result.calibration}
        row = ModelRow(version, result.boundary, result.meta, result.state, calibration)
        with self.store.transaction() as conn:
            self.store.save_model(conn, state.id, row)
            Store.record_model(conn, state.id, version, result.boundary, boundary)
        scorer = StreamScorer(det, context=result.context)
        with state.lock:
            state.model = LiveModel(det, cal, scorer, version, result.boundary, result.calibration)
            state.model_version, state.next_boundary, state.error = version, boundary, None


def _write_scores(conn: sqlite3.Connection, works: list[Work], rows: list[Row]) -> None:
    Store.write_score_rows(conn, rows)
    for w in works:
        if w.failure is not None:
            _persist_failure(conn, w.state.id, w.failure)


def _score_block(w: Work) -> ScoreBlock:
    """The scores of a work item; NaN (no score) for points scored without a model."""
    if w.raw is not None and w.score is not None:
        return ScoreBlock(w.state.id, w.first, w.raw, w.score)
    nan = np.full(w.n, np.nan)
    return ScoreBlock(w.state.id, w.first, nan, nan)


def _persist_failure(conn: sqlite3.Connection, series_id: str, message: str) -> None:
    Store.mark_failed(conn, series_id, message, NEVER)


def _run_command(fn: Callable[[], object], fut: Future[object]) -> None:
    try:
        fut.set_result(fn())
    except BaseException as exc:  # handed to the waiting request thread
        fut.set_exception(exc)
