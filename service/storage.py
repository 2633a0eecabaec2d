"""The embedded store: SQLite in WAL mode under ``--data-dir`` (stdlib ``sqlite3``).

Points are stored as *blocks*: one row per series per write (timestamps and values as float64
blobs), and scores as one row per series per scoring batch. Rows are appended in arrival order
(rowid tables, so a commit writes a few consecutive pages) and found through one index per
table on ``(series_id, first_idx)``; a series-keyed table would make every commit touch a
page per series.

One writer connection behind a lock. Writes go through :meth:`Store.write` (group commit: the
writes that queue up while a commit runs share the next transaction and its fsync, each in its
own savepoint, so a request's points or a batch's scores are all-or-nothing) or, for rare
changes, :meth:`Store.transaction`. One reader connection per thread (WAL lets readers run
beside the writer).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from anomalyd.service.datalock import DataDirLock
from anomalyd.service.migrations import upgrade

DB_FILE = "anomalyd.sqlite3"
log = logging.getLogger(__name__)
T = TypeVar("T")
Row = tuple[object, ...]
#: the writer checkpoints by itself only past this many WAL pages (1 GiB; a backstop): the
#: checkpoints run on a background thread (``_Checkpointer``), not inside a writer's commit
WAL_CHECKPOINT_PAGES = 262_144
#: seconds between background checkpoints
CHECKPOINT_INTERVAL_S = 0.5
ROWS_PER_STATEMENT = 256


SERIES_COLUMNS = (
    "id",
    "detector",
    "params",
    "train_points",
    "refit_every",
    "quantile",
    "labels",
    "source",
    "n_channels",
    "scored",
    "next_boundary",
    "model_version",
    "model_start",
    "error",
    "created_at",
)


@dataclass
class SeriesRow:
    """One row of ``series`` (JSON columns decoded)."""

    id: str
    detector: str
    params: dict[str, Any]
    train_points: int
    refit_every: int
    quantile: float
    labels: dict[str, str]
    source: str
    n_channels: int | None
    scored: int
    next_boundary: int
    model_version: int
    model_start: int | None
    error: str | None
    created_at: float


@dataclass
class ModelRow:
    """The current model of a series: detector files as blobs plus the calibration."""

    version: int
    start_idx: int
    meta: str
    state: bytes
    calibration: dict[str, Any]


@dataclass
class StoredPoints:
    """Points read back: index, timestamps, values (n, channels), raw and calibrated scores.

    A score is NaN where there is none (warm-up, or not scored yet).
    """

    idx: npt.NDArray[np.int64]
    ts: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    raw: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]

    def select(self, keep: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice) -> StoredPoints:
        """The points picked by a mask, indices or a slice."""
        return StoredPoints(
            self.idx[keep], self.ts[keep], self.values[keep], self.raw[keep], self.score[keep]
        )

    @staticmethod
    def concat(parts: Sequence[StoredPoints], n_channels: int) -> StoredPoints:
        """The points of every part, in order."""
        if not parts:
            return _empty(n_channels)
        return StoredPoints(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in STORED_FIELDS)
        )


STORED_FIELDS = ("idx", "ts", "values", "raw", "score")


@dataclass
class PointBlock:
    """New points ``first_idx ..`` of one series."""

    series_id: str
    first_idx: int
    ts: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


@dataclass
class ScoreBlock:
    """Final scores of points ``first_idx ..`` of one series (NaN = no score)."""

    series_id: str
    first_idx: int
    raw: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]


def _row_to_series(row: sqlite3.Row) -> SeriesRow:
    data = dict(zip(SERIES_COLUMNS, row, strict=True))
    data["params"] = json.loads(data["params"])
    data["labels"] = json.loads(data["labels"])
    return SeriesRow(**data)


class _Checkpointer:
    """Copies the WAL into the database every ``interval`` seconds on its own thread and
    connection (``PRAGMA wal_checkpoint(PASSIVE)``: never waits for writers or readers).

    SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so that
    one write waits for the copy and its fsync (a 20-30 ms stall every few MiB of WAL under
    load); here no write does. Durability does not change: a commit is durable in the WAL.
    """

    def __init__(self, conn: sqlite3.Connection, interval: float) -> None:
        self._conn = conn
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anomalyd-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # retried next time; the writer's backstop remains
                log.warning("WAL checkpoint failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._conn.close()


class Store:
    """Thread-safe access to the SQLite database file."""

    def __init__(self, data_dir: Path, *, synchronous: str = "FULL", cache_mb: int = 2) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._lock = DataDirLock(data_dir)  # one service per data directory
        try:
            upgrade(self.path)  # before WAL mode: a database it refuses is left as it was
        except BaseException:
            self._lock.release()
            raise
        self._synchronous = synchronous
        self._writer = self._connect()
        self._writer.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
        self._write_lock = threading.Lock()
        self._group_lock = threading.Lock()
        self._group: list[_GroupWrite] = []
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._checkpointer = _Checkpointer(self._connect(), CHECKPOINT_INTERVAL_S)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        return conn

    # ------------------------------------------------------------------ connections
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; committed (durable) when the block exits without error."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction and return its result once it is durable.

        Group commit: writes that arrive while another commit is in progress are run together
        in the next transaction, so many concurrent writers share one fsync. Each write runs
        inside its own savepoint: when ``fn`` raises, only its changes are rolled back and the
        exception is raised here; the others commit.
        """
        item = _GroupWrite(fn)
        with self._group_lock:
            self._group.append(item)
        with self._write_lock:
            if not item.done:  # not taken by the previous commit: lead this one
                with self._group_lock:
                    batch, self._group = self._group, []
                self._commit_group(batch)
        if item.error is not None:
            raise item.error
        return item.result

    def _commit_group(self, batch: list[_GroupWrite]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                conn.execute("SAVEPOINT write")
                try:
                    item.result = item.fn(conn)
                except BaseException as exc:  # handed to that writer only
                    conn.execute("ROLLBACK TO write")
                    item.error = exc
                conn.execute("RELEASE write")
            conn.execute("COMMIT")
        except BaseException as exc:  # nothing of this group is stored
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for item in batch:
                item.error = item.error or exc
        finally:
            for item in batch:
                item.done = True

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def ping(self) -> bool:
        """True when the database answers."""
        return self.reader().execute("SELECT 1").fetchone() == (1,)

    def close(self) -> None:
        """Close every connection."""
        self._checkpointer.stop()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()
        self._lock.release()

    # ------------------------------------------------------------------ series rows
    def load_series(self) -> list[SeriesRow]:
        """Every series row."""
        cols = ", ".join(SERIES_COLUMNS)
        rows = self.reader().execute(f"SELECT {cols} FROM series ORDER BY id").fetchall()  # noqa: S608
        return [_row_to_series(r) for r in rows]

    @staticmethod
    def upsert_series(conn: sqlite3.Connection, row: SeriesRow) -> None:
        """Insert or replace the whole row."""
        data = {**row.__dict__}
        data["params"] = json.dumps(row.params, sort_keys=True)
        data["labels"] = json.dumps(row.labels, sort_keys=True)
        cols = ", ".join(SERIES_COLUMNS)
        marks = ", ".join(f":{c}" for c in SERIES_COLUMNS)
        conn.execute(f"INSERT OR REPLACE INTO series ({cols}) VALUES ({marks})", data)  # noqa: S608

    @staticmethod
    def set_channels(conn: sqlite3.Connection, series_id: str, n_channels: int) -> None:
        """Record the series' channel count (known from its first point)."""
        conn.execute("UPDATE series SET n_channels = ? WHERE id = ?", (n_channels, series_id))

    @staticmethod
    def drop_model(conn: sqlite3.Connection, series_id: str) -> None:
        """Remove the series' stored model (a new configuration, or a failure)."""
        conn.execute("DELETE FROM models WHERE series_id = ?", (series_id,))

    @staticmethod
    def record_model(
        conn: sqlite3.Connection, series_id: str, version: int, start: int, next_boundary: int
    ) -> None:
        """The series' row after a model is installed: its version and first point, the next
        refit, no error (the model itself: :meth:`save_model`)."""
        conn.execute(
            "UPDATE series SET model_version = ?, model_start = ?, next_boundary = ?, "
            "error = NULL WHERE id = ?",
            (version, start, next_boundary, series_id),
        )

    @staticmethod
    def record_fit_failure(
        conn: sqlite3.Connection, series_id: str, error: str, next_boundary: int
    ) -> None:
        """A fit failed: its reason, and when the next fit is tried (the model is kept)."""
        conn.execute(
            "UPDATE series SET error = ?, next_boundary = ? WHERE id = ?",
            (error, next_boundary, series_id),
        )

    @staticmethod
    def mark_failed(
        conn: sqlite3.Connection, series_id: str, message: str, next_boundary: int
    ) -> None:
        """The series cannot be scored: its reason; no model, none kept."""
        conn.execute(
            "UPDATE series SET error = ?, next_boundary = ?, model_version = 0 WHERE id = ?",
            (message, next_boundary, series_id),
        )
        Store.drop_model(conn, series_id)

    @staticmethod
    def delete_series(conn: sqlite3.Connection, series_id: str) -> None:
        """Remove the series, its points and its model."""
        for table, col in (
            ("blocks", "series_id"),
            ("score_blocks", "series_id"),
            ("models", "series_id"),
            ("series", "id"),
        ):
            conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (series_id,))  # noqa: S608

    # ------------------------------------------------------------------ points
    @staticmethod
    def block_rows(blocks: Iterable[PointBlock]) -> list[Row]:
        """The rows of blocks of points (built before the write lock is taken)."""
        return [
            (b.series_id, b.first_idx, len(b.ts), float(b.ts[0]), float(b.ts[-1]),
             _blob(b.ts), _blob(b.values))
            for b in blocks
            if len(b.ts)
        ]  # fmt: skip

    @staticmethod
    def insert_blocks(conn: sqlite3.Connection, blocks: Iterable[PointBlock]) -> None:
        """Append each block of points (indices ``first_idx ..``, no score yet) as one row."""
        Store.insert_block_rows(conn, Store.block_rows(blocks))

    @staticmethod
    def insert_block_rows(conn: sqlite3.Connection, rows: list[Row]) -> None:
        """Append rows made by :meth:`block_rows`."""
        _insert_rows(
            conn, "INSERT INTO blocks (series_id, first_idx, n, first_ts, last_ts, ts, value)", rows
        )

    @staticmethod
    def score_rows(blocks: Iterable[ScoreBlock]) -> list[Row]:
        """The rows of blocks of scores (built before the write lock is taken)."""
        return [
            (b.series_id, b.first_idx, len(b.raw), _blob(b.raw), _blob(b.score))
            for b in blocks
            if len(b.raw)
        ]

    @staticmethod
    def write_scores(conn: sqlite3.Connection, blocks: Iterable[ScoreBlock]) -> None:
        """Store the raw and calibrated scores of points ``first_idx ..`` (NaN = no score)."""
        Store.write_score_rows(conn, Store.score_rows(blocks))

    @staticmethod
    def write_score_rows(conn: sqlite3.Connection, rows: list[Row]) -> None:
        """Store rows made by :meth:`score_rows` (replacing scores of the same points)."""
        _insert_rows(
            conn, "INSERT OR REPLACE INTO score_blocks (series_id, first_idx, n, raw, score)", rows
        )

    def progress(self) -> dict[str, tuple[int, float, int]]:
        """``{series_id: (points stored, last timestamp, points with final scores)}``."""
        conn = self.reader()
        stored = conn.execute(
            "SELECT series_id, MAX(first_idx) + n, last_ts FROM blocks GROUP BY series_id"
        ).fetchall()
        scored = dict(
            conn.execute(
                "SELECT series_id, MAX(first_idx) + n FROM score_blocks GROUP BY series_id"
            ).fetchall()
        )
        return {sid: (int(n), float(ts), int(scored.get(sid, 0))) for sid, n, ts in stored}

    def read_range(self, series_id: str, lo: int, hi: int, n_channels: int) -> StoredPoints:
        """Points with ``lo <= idx < hi``."""
        lo = max(lo, 0)
        if hi <= lo:
            return _empty(n_channels)
        rows = (
            self.reader()
            .execute(
                "SELECT first_idx, ts, value FROM blocks WHERE series_id = ? AND first_idx >= "
                "(SELECT COALESCE(MAX(first_idx), 0) FROM blocks WHERE series_id = ? "
                "AND first_idx <= ?) AND first_idx < ? ORDER BY first_idx",
                (series_id, series_id, lo, hi),
            )
            .fetchall()
        )
        pts = _decode_blocks(rows, n_channels)
        keep = (pts.idx >= lo) & (pts.idx < hi)
        return self._with_scores(series_id, pts.select(keep))

    def read_time_range(
        self, series_id: str, start: float | None, end: float | None, limit: int, n_channels: int
    ) -> StoredPoints:
        """Points with ``start <= ts <= end`` in time order, at most ``limit``."""
        lo = -np.inf if start is None else start
        hi = np.inf if end is None else end
        cur = self.reader().execute(
            "SELECT first_idx, ts, value FROM blocks WHERE series_id = ? AND first_idx >= "
            "(SELECT COALESCE(MIN(first_idx), 0) FROM blocks WHERE series_id = ? "
            "AND last_ts >= ?) AND first_ts <= ? ORDER BY first_idx",
            (series_id, series_id, lo, hi),
        )
        parts, found = [], 0
        while found < limit and (rows := cur.fetchmany(64)):
            part = _decode_blocks(rows, n_channels)
            part = part.select((part.ts >= lo) & (part.ts <= hi))
            parts.append(part)
            found += len(part.idx)
        cur.close()
        pts = StoredPoints.concat(parts, n_channels)
        return self._with_scores(series_id, pts.select(slice(0, limit)))

    def points_between(
        self, series_id: str, lo: float, hi: float, n_channels: int
    ) -> dict[float, tuple[int, npt.NDArray[np.float64]]]:
        """``{ts: (idx, values)}`` of the stored points with ``lo <= ts <= hi``."""
        pts = self.read_time_range(series_id, lo, hi, 2**62, n_channels)
        return {float(t): (int(i), v) for t, i, v in zip(pts.ts, pts.idx, pts.values, strict=True)}

    def _with_scores(self, series_id: str, pts: StoredPoints) -> StoredPoints:
        if not len(pts.idx):
            return pts
        lo, hi = int(pts.idx[0]), int(pts.idx[-1]) + 1
        rows = (
            self.reader()
            .execute(
                "SELECT first_idx, raw, score FROM score_blocks WHERE series_id = ? AND "
                "first_idx >= (SELECT COALESCE(MAX(first_idx), 0) FROM score_blocks "
                "WHERE series_id = ? AND first_idx <= ?) AND first_idx < ? ORDER BY first_idx",
                (series_id, series_id, lo, hi),
            )
            .fetchall()
        )
        raw, score = np.full(hi - lo, np.nan), np.full(hi - lo, np.nan)
        for first, raw_blob, score_blob in rows:
            r, s = np.frombuffer(raw_blob, "<f8"), np.frombuffer(score_blob, "<f8")
            a, b = max(first, lo), min(first + len(r), hi)
            if b <= a:
                continue  # the block before the range ends before it
            raw[a - lo : b - lo], score[a - lo : b - lo] = (
                r[a - first : b - first],
                s[a - first : b - first],
            )
        at = pts.idx - lo
        pts.raw, pts.score = raw[at], score[at]
        return pts

    # ------------------------------------------------------------------ models
    @staticmethod
    def save_model(conn: sqlite3.Connection, series_id: str, model: ModelRow) -> None:
        """Replace the series' model."""
        conn.execute(
            "INSERT OR REPLACE INTO models (series_id, version, start_idx, meta, state, "
            "calibration) VALUES (?, ?, ?, ?, ?, ?)",
            (
                series_id,
                model.version,
                model.start_idx,
                model.meta,
                model.state,
                json.dumps(model.calibration),
            ),
        )

    def load_model(self, series_id: str) -> ModelRow | None:
        """The series' current model, if any."""
        row = (
            self.reader()
            .execute(
                "SELECT version, start_idx, meta, state, calibration FROM models "
                "WHERE series_id = ?",
                (series_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return ModelRow(row[0], row[1], row[2], bytes(row[3]), json.loads(row[4]))


@dataclass(eq=False)
class _GroupWrite:
    fn: Callable[[sqlite3.Connection], Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False


def _insert_rows(conn: sqlite3.Connection, head: str, rows: list[Row]) -> None:
    """``head VALUES (..), (..), ...`` with up to ``ROWS_PER_STATEMENT`` rows per statement.

    SQLite runs each statement in one step, and Python's sqlite3 releases the GIL around each
    step: one release per chunk instead of one per row (``executemany``), which matters when
    the other threads keep the GIL busy.
    """
    if not rows:
        return
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    for lo in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[lo : lo + ROWS_PER_STATEMENT]
        conn.execute(f"{head} VALUES {', '.join([one] * len(part))}", [v for r in part for v in r])


def _blob(x: npt.NDArray[np.float64]) -> bytes:
    return np.ascontiguousarray(x, dtype="<f8").tobytes()


def _empty(n_channels: int) -> StoredPoints:
    return StoredPoints(
        np.empty(0, np.int64), np.empty(0), np.empty((0, n_channels)), np.empty(0), np.empty(0)
    )


def _decode_blocks(rows: list[Any], n_channels: int) -> StoredPoints:
    """Blocks ``(first_idx, ts blob, value blob)`` -> points without scores (NaN)."""
    if not rows:
        return _empty(n_channels)
    ts = np.frombuffer(b"".join(r[1] for r in rows), "<f8").astype(np.float64)
    idx = np.concatenate([np.arange(r[0], r[0] + len(r[1]) // 8) for r in rows])
    flat = np.frombuffer(b"".join(r[2] for r in rows), "<f8").astype(np.float64)
    values = flat.reshape(len(ts), n_channels)
    nan = np.full(len(ts), np.nan)
    return StoredPoints(idx.astype(np.int64), ts, values, nan, nan.copy())
