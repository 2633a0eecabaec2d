"""The embedded store: SQLite in WAL mode under ``--data-dir`` (stdlib ``sqlite3``).

One writer connection behind a lock (every write is one ``BEGIN IMMEDIATE`` transaction, so a
request's points, a batch's scores or a new model are all-or-nothing) and one reader
connection per thread (WAL lets readers run beside the writer).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DB_FILE = "anomalyd.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    params TEXT NOT NULL,
    train_points INTEGER NOT NULL,
    refit_every INTEGER NOT NULL,
    quantile REAL NOT NULL,
    labels TEXT NOT NULL,
    source TEXT NOT NULL,
    n_channels INTEGER,
    count INTEGER NOT NULL DEFAULT 0,
    scored INTEGER NOT NULL DEFAULT 0,
    last_ts REAL,
    next_boundary INTEGER NOT NULL,
    model_version INTEGER NOT NULL DEFAULT 0,
    model_start INTEGER,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    series_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    ts REAL NOT NULL,
    value BLOB NOT NULL,
    raw REAL,
    score REAL,
    PRIMARY KEY (series_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS points_by_ts ON points (series_id, ts);
CREATE TABLE IF NOT EXISTS models (
    series_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    start_idx INTEGER NOT NULL,
    meta TEXT NOT NULL,
    state BLOB NOT NULL,
    calibration TEXT NOT NULL
);
"""

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
    "count",
    "scored",
    "last_ts",
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
    count: int
    scored: int
    last_ts: float | None
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
    calibration: dict[str, float]


@dataclass
class StoredPoints:
    """Points read back: index, timestamps, values (n, channels), raw and calibrated scores."""

    idx: npt.NDArray[np.int64]
    ts: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    raw: list[float | None]
    score: list[float | None]


def encode_value(row: npt.NDArray[np.float64]) -> bytes:
    """A point's channels as little-endian float64 bytes (exact round trip)."""
    return np.ascontiguousarray(row, dtype="<f8").tobytes()


def decode_values(blobs: Sequence[bytes], n_channels: int) -> npt.NDArray[np.float64]:
    """Inverse of :func:`encode_value` for many points."""
    if not blobs:
        return np.empty((0, n_channels))
    flat = np.frombuffer(b"".join(blobs), dtype="<f8")
    return flat.reshape(len(blobs), n_channels).astype(np.float64)


def _row_to_series(row: sqlite3.Row) -> SeriesRow:
    data = dict(zip(SERIES_COLUMNS, row, strict=True))
    data["params"] = json.loads(data["params"])
    data["labels"] = json.loads(data["labels"])
    return SeriesRow(**data)


class Store:
    """Thread-safe access to the SQLite database file."""

    def __init__(self, data_dir: Path, *, synchronous: str = "FULL") -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._synchronous = synchronous
        self._writer = self._connect()
        self._writer.executescript(SCHEMA)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
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
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()

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
    def set_progress(conn: sqlite3.Connection, series_id: str, *, scored: int) -> None:
        """Record how many points of the series have final scores."""
        conn.execute("UPDATE series SET scored = ? WHERE id = ?", (scored, series_id))

    @staticmethod
    def delete_series(conn: sqlite3.Connection, series_id: str) -> None:
        """Remove the series, its points and its model."""
        for table, col in (("points", "series_id"), ("models", "series_id"), ("series", "id")):
            conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (series_id,))  # noqa: S608

    # ------------------------------------------------------------------ points
    @staticmethod
    def insert_points(
        conn: sqlite3.Connection,
        series_id: str,
        first_idx: int,
        ts: npt.NDArray[np.float64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """Append points ``first_idx ..`` with no score yet."""
        rows = (
            (series_id, first_idx + i, float(t), encode_value(v))
            for i, (t, v) in enumerate(zip(ts, values, strict=True))
        )
        conn.executemany("INSERT INTO points (series_id, idx, ts, value) VALUES (?, ?, ?, ?)", rows)

    @staticmethod
    def write_scores(
        conn: sqlite3.Connection,
        series_id: str,
        first_idx: int,
        raw: npt.NDArray[np.float64],
        score: npt.NDArray[np.float64],
    ) -> None:
        """Store the raw and calibrated scores of points ``first_idx ..`` (NaN -> NULL)."""
        rows = (
            (_nullable(r), _nullable(s), series_id, first_idx + i)
            for i, (r, s) in enumerate(zip(raw, score, strict=True))
        )
        conn.executemany(
            "UPDATE points SET raw = ?, score = ? WHERE series_id = ? AND idx = ?", rows
        )

    def read_range(self, series_id: str, lo: int, hi: int, n_channels: int) -> StoredPoints:
        """Points with ``lo <= idx < hi``."""
        rows = (
            self.reader()
            .execute(
                "SELECT idx, ts, value, raw, score FROM points "
                "WHERE series_id = ? AND idx >= ? AND idx < ? ORDER BY idx",
                (series_id, lo, hi),
            )
            .fetchall()
        )
        return _points(rows, n_channels)

    def read_time_range(
        self, series_id: str, start: float | None, end: float | None, limit: int, n_channels: int
    ) -> StoredPoints:
        """Points with ``start <= ts <= end`` in time order, at most ``limit``."""
        lo = -np.inf if start is None else start
        hi = np.inf if end is None else end
        rows = (
            self.reader()
            .execute(
                "SELECT idx, ts, value, raw, score FROM points "
                "WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts LIMIT ?",
                (series_id, lo, hi, limit),
            )
            .fetchall()
        )
        return _points(rows, n_channels)

    def points_between(
        self, series_id: str, lo: float, hi: float
    ) -> dict[float, tuple[int, bytes]]:
        """``{ts: (idx, encoded value)}`` of the stored points with ``lo <= ts <= hi``."""
        rows = (
            self.reader()
            .execute(
                "SELECT ts, idx, value FROM points WHERE series_id = ? AND ts >= ? AND ts <= ?",
                (series_id, lo, hi),
            )
            .fetchall()
        )
        return {r[0]: (r[1], bytes(r[2])) for r in rows}

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


def _nullable(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _points(rows: list[Any], n_channels: int) -> StoredPoints:
    return StoredPoints(
        idx=np.array([r[0] for r in rows], dtype=np.int64),
        ts=np.array([r[1] for r in rows], dtype=np.float64),
        values=decode_values([bytes(r[2]) for r in rows], n_channels),
        raw=[r[3] for r in rows],
        score=[r[4] for r in rows],
    )
