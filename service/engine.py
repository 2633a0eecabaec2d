"""The streaming core: series registry, durable ingestion, configuration and recovery."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.base import Calibrator
from anomalyd.detectors.echo import ECHO_GAP, SUSTAIN, Echo, echo_after
from anomalyd.detectors.streaming import StreamScorer
from anomalyd.service.durations import STEP_POINTS, step_seconds
from anomalyd.service.faults import ConflictingChange, InvalidInput, Overloaded, UnknownSeries
from anomalyd.service.modelio import load_detector
from anomalyd.service.parsing import check_not_remote_write_id, seconds_text
from anomalyd.service.scheduler import Scheduler
from anomalyd.service.series import (
    NEVER,
    LiveModel,
    SeriesConfig,
    SeriesState,
    Waiter,
    validate_config,
)
from anomalyd.service.settings import Settings
from anomalyd.service.storage import PointBlock, Row, SeriesRow, Store, StoredPoints
from anomalyd.service.telemetry import Telemetry
from anomalyd.service.training import first_boundary

log = logging.getLogger("anomalyd.engine")

REMOTE_WRITE_SOURCE = "remote_write"
"""The ``source`` of writes from the remote-write receiver: the only one that may create or
feed a series whose id has the remote-write form (``check_not_remote_write_id``)."""


@dataclass
class Incoming:
    """Validated points for one series: strictly increasing timestamps, finite 2-D values."""

    series_id: str
    ts: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    labels: dict[str, str]


@dataclass
class Accepted:
    """Where the points of one :class:`Incoming` ended up: the stored duplicates, then
    ``n_new`` new points from index ``first_new`` on."""

    state: SeriesState
    dup_idx: npt.NDArray[np.int64]
    first_new: int
    ts: npt.NDArray[np.float64]
    n_new: int
    waiter: Waiter | None = None

    @property
    def n_duplicates(self) -> int:
        return len(self.dup_idx)

    @property
    def idx(self) -> npt.NDArray[np.int64]:
        """Index of every point of the write, in request order."""
        new = np.arange(self.first_new, self.first_new + self.n_new, dtype=np.int64)
        return np.concatenate([self.dup_idx, new])

    @property
    def end(self) -> int:
        """One past the highest index of the write (0 for none)."""
        if self.n_new:
            return self.first_new + self.n_new
        return int(self.dup_idx.max()) + 1 if len(self.dup_idx) else 0


@dataclass(frozen=True)
class Refused:
    """Points of one series a per-series write left out, and why.

    ``reason`` is a value of ``anomalyd_points_rejected_total``'s ``reason`` label:
    ``out_of_order`` (not after the series' last stored point and not stored),
    ``duplicate_timestamp`` (a stored or sent timestamp with another value), ``channels`` (a
    different number of values per point), ``invalid_labels``, ``non_finite``,
    ``too_far_in_future``, ``value_out_of_range``."""

    series: str
    reason: str
    n_points: int
    detail: str


@dataclass
class _Plan:
    state: SeriesState
    item: Incoming
    dup_idx: npt.NDArray[np.int64]
    new_ts: npt.NDArray[np.float64] = field(init=False)
    new_values: npt.NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.new_ts = self.item.ts[len(self.dup_idx) :]
        self.new_values = self.item.values[len(self.dup_idx) :]


def _refused(series: str, reason: str, ts: npt.NDArray[np.float64], last: float | None) -> Refused:
    """The refusal of the samples at ``ts`` (seconds) of ``series`` for ``reason``."""
    if reason == "out_of_order":
        why = f"not after its last stored point ({seconds_text(last or 0.0)}) and not stored"
    else:
        why = "a stored point has another value at that timestamp"
    return Refused(series, reason, len(ts), f"timestamp {seconds_text(float(ts[0]))}: {why}")


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class Engine:
    """Owns the store, the scheduler and the in-memory series."""

    def __init__(self, settings: Settings, telemetry: Telemetry) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self._check_defaults()
        self.store = Store(
            settings.data_dir,
            synchronous=settings.sqlite_synchronous,
            cache_mb=settings.sqlite_cache_mb,
        )
        self.scheduler = Scheduler(self.store, telemetry, settings)
        self._series: dict[str, SeriesState] = {}
        self._lock = threading.Lock()
        self.started = False

    def _check_defaults(self) -> None:
        try:
            validate_config(self.default_config())
        except InvalidInput as exc:
            raise ValueError(
                f"The default series configuration (ANOMALYD_DEFAULT_DETECTOR / _PARAMS / "
                f"_TRAIN_POINTS) is not valid: {exc.detail}"
            ) from exc

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Recover every series from the store, then start scoring."""
        progress = self.store.progress()
        for row in self.store.load_series():
            count, last_ts, scored = progress.get(row.id, (0, None, 0))
            row.scored = max(row.scored, scored)
            state = self._recover(row, count, last_ts)
            self._series[state.id] = state
            self.scheduler.mark_dirty(state)
        self.scheduler.start()
        self.started = True
        log.info("anomalyd engine started with %d series", len(self._series))

    def stop(self) -> None:
        """Stop scoring and close the store (committed data is already durable)."""
        self.started = False
        self.scheduler.stop()
        self.store.close()

    @property
    def queue_depth(self) -> int:
        """Points accepted and not yet scored, over all series."""
        return self.scheduler.admission.pending

    @property
    def ready(self) -> bool:
        """True when the scheduler runs and the database answers."""
        try:
            return self.started and self.scheduler.alive and self.store.ping()
        except Exception:
            return False

    # ------------------------------------------------------------------ lookup
    def snapshot(self) -> list[SeriesState]:
        """Every series (a copy of the list)."""
        with self._lock:
            return [s for s in self._series.values() if s.persisted and not s.deleted]

    def get(self, series_id: str) -> SeriesState:
        """The series, or 404."""
        with self._lock:
            state = self._series.get(series_id)
        if state is None or not state.persisted or state.deleted:
            raise UnknownSeries(
                f"Series {series_id!r} does not exist; create it with PUT or a write."
            )
        return state

    def points_between(
        self, state: SeriesState, start: float | None, end: float | None, limit: int
    ) -> StoredPoints:
        """The series' stored points with ``start <= ts <= end`` (None: open), in time order,
        with their scores (NaN where none), at most ``limit``."""
        return self.store.read_time_range(state.id, start, end, limit, state.n_channels or 1)

    def step_seconds(self, series_id: str) -> float | None:
        """The series' step: median gap between its latest stored timestamps (None when it
        does not exist or has fewer than two points)."""
        with self._lock:
            state = self._series.get(series_id)
        if state is None or state.deleted or state.n_channels is None or state.count < 2:
            return None
        lo = state.count - STEP_POINTS
        return step_seconds(self.store.read_range(series_id, lo, state.count, state.n_channels).ts)

    def default_config(self) -> SeriesConfig:
        """Configuration of series created by a write."""
        return self.settings.series_config()

    def _new_state(
        self, series_id: str, config: SeriesConfig, labels: dict[str, str], source: str
    ) -> SeriesState:
        return SeriesState(
            id=series_id,
            config=config,
            labels=labels,
            source=source,
            created_at=time.time(),
            next_boundary=first_boundary(config),
        )

    # ------------------------------------------------------------------ configuration
    def configure(
        self, series_id: str, config: SeriesConfig, labels: dict[str, str] | None
    ) -> tuple[SeriesState, bool]:
        """Create or reconfigure a series; returns ``(state, created)``."""
        validate_config(config)
        return self.scheduler.call(lambda: self._configure_now(series_id, config, labels))

    def _configure_now(
        self, series_id: str, config: SeriesConfig, labels: dict[str, str] | None
    ) -> tuple[SeriesState, bool]:
        with self._lock:
            state = self._series.get(series_id)
            created = state is None or state.deleted
            if state is None or state.deleted or not state.persisted:  # nothing stored yet
                check_not_remote_write_id(series_id)
            if state is None or state.deleted:
                state = self._new_state(series_id, config, labels or {"series": series_id}, "rest")
                self._series[series_id] = state
        with state.lock:
            if state.deleted:
                raise ConflictingChange(
                    f"Series {series_id!r} was deleted meanwhile; retry the PUT."
                )
            if labels is not None and state.source != "rest":
                raise InvalidInput(
                    f"Series {series_id!r} comes from remote-write; its labels are the "
                    "Prometheus labels and cannot be set with PUT (leave `labels` out)."
                )
            if created or not state.persisted:
                state.config = config
                state.next_boundary = first_boundary(config)
                state.labels = labels or state.labels
                self._persist_row(state)
                return state, created
            if labels is not None and labels != state.labels:
                state.labels = labels
                self._persist_row(state)
            if config != state.config:
                self._reset(state, config)
        return state, False

    def _reset(self, state: SeriesState, config: SeriesConfig) -> None:
        """New configuration: drop the model; the next one takes over at the current end."""
        state.generation += 1
        with self.store.transaction() as conn:
            state_row = state.to_row()
            state_row.detector, state_row.params = config.detector, config.params
            state_row.train_points, state_row.refit_every = config.train_points, config.refit_every
            state_row.quantile, state_row.scored = config.quantile, state.count
            state_row.next_boundary = max(state.count, first_boundary(config))
            state_row.model_start, state_row.error, state_row.model_version = None, None, 0
            Store.upsert_series(conn, state_row)
            Store.drop_model(conn, state.id)
        self.scheduler.admission.release(state.pending.clear())
        state.config, state.scored = config, state.count
        state.next_boundary = max(state.count, first_boundary(config))
        state.model, state.error, state.fitting, state.fit_result = None, None, False, None
        state.last_raw = state.last_score = None
        state.release_waiters(everyone=True)
        self.scheduler.mark_dirty(state)

    def _persist_row(self, state: SeriesState) -> None:
        with self.store.transaction() as conn:
            Store.upsert_series(conn, state.to_row())
        state.persisted = True

    def delete(self, series_id: str) -> None:
        """Delete a series with its points and model (404 when unknown)."""
        self.scheduler.call(lambda: self._delete_now(series_id))

    def _delete_now(self, series_id: str) -> None:
        with self._lock:
            state = self._series.pop(series_id, None)
            if state is None:
                raise UnknownSeries(f"Series {series_id!r} does not exist.")
            with state.lock:
                state.deleted = True
                state.generation += 1
                with self.store.transaction() as conn:
                    Store.delete_series(conn, series_id)
                self.scheduler.admission.release(state.pending.clear())
                state.release_waiters(everyone=True)

    # ------------------------------------------------------------------ ingestion
    def ingest(self, batch: list[Incoming], source: str, *, wait: bool) -> list[Accepted]:
        """Store the points of every item durably in one transaction, or refuse them all."""
        return self._ingest(batch, source, wait=wait, refused=None)

    def ingest_each(self, batch: list[Incoming], source: str) -> list[Refused]:
        """Store every point that can be stored in one transaction and refuse the others
        point by point (remote-write: a sender cannot fix one sample and resend the rest).

        Exact duplicates of stored points are accepted (retries are idempotent). Returns what
        was refused. Raises :class:`~service.faults.Overloaded` (nothing stored) when the
        scoring queue is full."""
        refused: list[Refused] = []
        self._ingest(batch, source, wait=False, refused=refused)
        return refused

    def _ingest(
        self, batch: list[Incoming], source: str, *, wait: bool, refused: list[Refused] | None
    ) -> list[Accepted]:
        ids = [item.series_id for item in batch]
        if len(set(ids)) != len(ids):
            raise InvalidInput("Each series may appear only once per write.")
        if source != REMOTE_WRITE_SOURCE:
            for series_id in ids:
                check_not_remote_write_id(series_id)
        while True:
            states = self._states_for(batch, source)
            try:
                accepted = self._ingest_locked(batch, states, source, wait=wait, refused=refused)
            finally:
                self._forget(states.values())
            if accepted is not None:
                return accepted

    def _ingest_locked(
        self,
        batch: list[Incoming],
        states: dict[str, SeriesState],
        source: str,
        *,
        wait: bool,
        refused: list[Refused] | None,
    ) -> list[Accepted] | None:
        with ExitStack() as stack:
            for sid in sorted(states):
                stack.enter_context(states[sid].lock)
            if any(s.deleted for s in states.values()):
                return None  # deleted meanwhile: look the ids up again
            try:
                if refused is not None:
                    batch = self._sift_all(batch, states, refused)
                plans = [self._plan(states[item.series_id], item) for item in batch]
                return self._commit(plans, source, wait=wait)
            finally:
                self._abandon(states.values())

    def _sift_all(
        self, batch: list[Incoming], states: dict[str, SeriesState], refused: list[Refused]
    ) -> list[Incoming]:
        """``batch`` without the points a per-series write refuses (added to ``refused``)."""
        kept = []
        del refused[:]  # a retry after a concurrent delete sifts again
        for item in batch:
            sifted, out = self._sift(states[item.series_id], item)
            refused.extend(out)
            if sifted is not None:
                kept.append(sifted)
        return kept

    def _sift(self, state: SeriesState, item: Incoming) -> tuple[Incoming | None, list[Refused]]:
        """The points of ``item`` that can be stored, and the others by reason."""
        if state.n_channels is not None and item.values.shape[1] != state.n_channels:
            why = f"it has {state.n_channels} value(s) per point; this write has another count"
            return None, [Refused(item.series_id, "channels", len(item.ts), why)]
        last = state.last_ts
        n_old = 0 if last is None else int(np.searchsorted(item.ts, last, side="right"))
        if n_old == 0:
            return item, []
        keep, out = self._sift_old(state, item, n_old)
        sifted = Incoming(item.series_id, item.ts[keep], item.values[keep], item.labels)
        return (sifted if keep.any() else None), out

    def _sift_old(
        self, state: SeriesState, item: Incoming, n_old: int
    ) -> tuple[npt.NDArray[np.bool_], list[Refused]]:
        """Which points of ``item`` to keep when its first ``n_old`` are not after the last
        stored one: exact duplicates of stored points only."""
        ts, values = item.ts[:n_old], item.values[:n_old]
        stored = self.store.points_between(state.id, float(ts[0]), float(ts[-1]), values.shape[1])
        hits = [stored.get(float(t)) for t in ts]
        missing = np.array([h is None for h in hits])
        other = np.array(
            [
                h is not None and not np.array_equal(h[1], v)
                for h, v in zip(hits, values, strict=True)
            ]
        )
        keep = np.ones(len(item.ts), dtype=bool)
        keep[:n_old] = ~(missing | other)
        out = [_refused(item.series_id, reason, ts[mask], state.last_ts)
               for reason, mask in (("out_of_order", missing), ("duplicate_timestamp", other))
               if mask.any()]  # fmt: skip
        return keep, out

    @staticmethod
    def _abandon(states: Iterable[SeriesState]) -> None:
        """A write leaves no trace where it stored nothing: series it would have created (a
        refused write, or a series whose every point was refused) are dropped."""
        for state in states:
            if not state.persisted:
                state.deleted = True

    def _forget(self, states: Iterable[SeriesState]) -> None:
        with self._lock:
            for state in states:
                if state.deleted and self._series.get(state.id) is state:
                    del self._series[state.id]

    def _states_for(self, batch: list[Incoming], source: str) -> dict[str, SeriesState]:
        out: dict[str, SeriesState] = {}
        with self._lock:
            for item in batch:
                state = self._series.get(item.series_id)
                if state is None or state.deleted:
                    config = self.default_config()
                    state = self._new_state(item.series_id, config, item.labels, source)
                    self._series[item.series_id] = state
                out[item.series_id] = state
        return out

    def _plan(self, state: SeriesState, item: Incoming) -> _Plan:
        channels = item.values.shape[1]
        if state.n_channels is not None and channels != state.n_channels:
            raise InvalidInput(
                f"Series {state.id!r} has {state.n_channels} channel(s) per point; this write "
                f"has {channels}. Send the same number of values per point as before."
            )
        last = state.last_ts
        if last is None or not len(item.ts) or item.ts[0] > last:  # usual: every point is new
            n_dup = 0
        else:
            n_dup = int(np.searchsorted(item.ts, last, side="right"))
        return _Plan(state, item, self._duplicates(state, item, n_dup))

    def _duplicates(self, state: SeriesState, item: Incoming, n_dup: int) -> npt.NDArray[np.int64]:
        """Indices of already stored points (same timestamp and value); refuse anything else."""
        if n_dup == 0:
            return np.empty(0, dtype=np.int64)
        ts, values = item.ts[:n_dup], item.values[:n_dup]
        stored = self.store.points_between(state.id, float(ts[0]), float(ts[-1]), values.shape[1])
        idx = np.empty(n_dup, dtype=np.int64)
        for i, (t, v) in enumerate(zip(ts, values, strict=True)):
            hit = stored.get(float(t))
            if hit is None:
                raise InvalidInput(
                    f"Timestamp {seconds_text(t)} of series {state.id!r} is not after its last "
                    f"stored point ({seconds_text(state.last_ts or 0.0)}) and is not stored; "
                    "timestamps must increase (only an exact duplicate of a stored point is "
                    "accepted)."
                )
            if not np.array_equal(hit[1], v):
                raise ConflictingChange(
                    f"Series {state.id!r} already has a different value at timestamp "
                    f"{seconds_text(t)}; a stored point cannot be changed (resending the same "
                    "value is fine)."
                )
            idx[i] = hit[0]
        return idx

    def _commit(self, plans: list[_Plan], source: str, *, wait: bool) -> list[Accepted]:
        n_new = sum(len(p.new_ts) for p in plans)
        if n_new and not self.scheduler.admission.try_reserve(n_new):
            self.telemetry.throttled.labels(source).inc()
            self.telemetry.rejected.labels(source, "queue_full").inc(n_new)
            retry = self.settings.retry_after_s
            raise Overloaded(
                f"The scoring queue is full ({self.settings.queue_capacity} points waiting); "
                f"nothing was stored. Retry after {retry}s.",
                retry_after=retry,
            )
        try:
            self._write(plans)
        except BaseException:
            self.scheduler.admission.release(n_new)
            raise
        self.telemetry.ingested.labels(source).inc(n_new)
        accepted = [self._applied(p, wait=wait) for p in plans]
        self.scheduler.mark_dirty(*(p.state for p in plans if len(p.new_ts)))
        return accepted

    def _write(self, plans: list[_Plan]) -> None:
        rows = Store.block_rows(PointBlock(p.state.id, p.state.count, p.new_ts, p.new_values)
                                for p in plans)  # fmt: skip
        self.store.write(lambda conn: self._write_rows(conn, plans, rows))

    def _write_rows(self, conn: sqlite3.Connection, plans: list[_Plan], rows: list[Row]) -> None:
        for p in plans:
            state, channels = p.state, p.item.values.shape[1]
            if not state.persisted:
                row = state.to_row()
                row.n_channels = channels
                Store.upsert_series(conn, row)
            elif state.n_channels is None and len(p.new_ts):
                Store.set_channels(conn, state.id, channels)
        Store.insert_block_rows(conn, rows)

    def _applied(self, p: _Plan, *, wait: bool) -> Accepted:
        state, n = p.state, len(p.new_ts)
        accepted = Accepted(state, p.dup_idx, state.count, p.item.ts, n)
        state.persisted = True
        state.n_channels = p.item.values.shape[1]
        if n:
            state.count += n
            state.last_ts = float(p.new_ts[-1])
            state.pending.append(p.new_ts, p.new_values)
        if wait and accepted.end > state.scored:
            accepted.waiter = Waiter(accepted.end)
            state.waiters.append(accepted.waiter)
        return accepted

    # ------------------------------------------------------------------ reading
    def scores_of(self, accepted: Accepted) -> list[tuple[float | None, float | None]]:
        """``(raw, anomaly_score)`` of every point of an accepted write, in request order."""
        state = accepted.state
        if not len(accepted.idx):
            return []
        lo, hi = int(accepted.idx.min()), int(accepted.idx.max()) + 1
        pts = self.store.read_range(state.id, lo, hi, state.n_channels or 1)
        found = {
            int(i): (_finite(r), _finite(s))
            for i, r, s in zip(pts.idx, pts.raw, pts.score, strict=True)
        }
        # a point may be gone when the series was deleted meanwhile: no score then
        return [found.get(int(i), (None, None)) for i in accepted.idx]

    # ------------------------------------------------------------------ recovery
    def _recover(self, row: SeriesRow, count: int, last_ts: float | None) -> SeriesState:
        """The live state of a stored series with ``count`` points up to ``last_ts``."""
        state = SeriesState.from_row(row, count, last_ts)
        channels = row.n_channels or 1
        if row.model_version:
            self._recover_model(state, channels)
        if state.model is not None:
            state.echo = self._recover_echo(state, channels)
        pending = self.store.read_range(row.id, row.scored, count, channels)
        state.pending.append(pending.ts, pending.values)
        self.scheduler.admission.force_reserve(len(pending.ts))
        return state

    def _recover_echo(self, state: SeriesState, channels: int) -> Echo:
        """The alert run after the last scored point, read back from the stored scores."""
        window = state.model.detector.echo_window  # type: ignore[union-attr]
        back = SUSTAIN * window + ECHO_GAP
        past = self.store.read_range(state.id, state.scored - back, state.scored, channels)
        return echo_after(past.score, state.scored)

    def _recover_model(self, state: SeriesState, channels: int) -> None:
        stored = self.store.load_model(state.id)
        if stored is not None and "threshold" not in stored.calibration:
            log.info("series %s has an alert line of an older format: refitting", state.id)
            state.next_boundary, state.model_version = state.scored, 0
            return
        try:
            if stored is None:
                raise ValueError("the model row is missing")
            det = load_detector(stored.meta, stored.state)
            cal = Calibrator.from_dict(stored.calibration)
            width = det.context_length
            ctx = self.store.read_range(state.id, state.scored - width, state.scored, channels)
        except Exception as exc:  # the series is marked failed; the service still starts
            log.exception("could not load the model of series %s", state.id)
            state.error, state.next_boundary = f"model could not be loaded: {exc}", NEVER
            return
        scorer = StreamScorer(det, context=ctx.values)
        method = str(stored.calibration.get("method", ""))
        state.model = LiveModel(det, cal, scorer, stored.version, stored.start_idx, method)
        if len(ctx.raw) and np.isfinite(ctx.raw[-1]) and np.isfinite(ctx.score[-1]):
            state.last_raw, state.last_score = float(ctx.raw[-1]), float(ctx.score[-1])
