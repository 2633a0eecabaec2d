"""The store's schema, as ordered migrations (SQLite ``PRAGMA user_version``).

A database records the last migration applied to it in ``user_version``; opening it applies
the later ones in order, each in its own transaction with its version bump, so a crash leaves
the database at a whole version. Version 0 is a new file or one written before the schema had
versions (migration 1 creates only what is missing, so both reach version 1). A database of a
newer anomalyd than this one is refused, not changed.

A migration is appended, never edited: what a version means is fixed once released.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema step: ``version`` (1, 2, ...), what it changes, and its SQL script."""

    version: int
    what: str
    sql: str


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer anomalyd (a later schema version than this one's)."""


_V1 = """
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
    -- count, last_ts: as of the last series upsert; the blocks are the truth (see progress())
    -- scored: a lower bound set on reconfiguration; score_blocks give the rest
    count INTEGER NOT NULL DEFAULT 0,
    scored INTEGER NOT NULL DEFAULT 0,
    last_ts REAL,
    next_boundary INTEGER NOT NULL,
    model_version INTEGER NOT NULL DEFAULT 0,
    model_start INTEGER,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    seq INTEGER PRIMARY KEY,
    series_id TEXT NOT NULL,
    first_idx INTEGER NOT NULL,
    n INTEGER NOT NULL,
    first_ts REAL NOT NULL,
    last_ts REAL NOT NULL,
    ts BLOB NOT NULL,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS blocks_by_series ON blocks (series_id, first_idx, last_ts);
CREATE TABLE IF NOT EXISTS score_blocks (
    seq INTEGER PRIMARY KEY,
    series_id TEXT NOT NULL,
    first_idx INTEGER NOT NULL,
    n INTEGER NOT NULL,
    raw BLOB NOT NULL,
    score BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS score_blocks_by_series ON score_blocks (series_id, first_idx);
CREATE TABLE IF NOT EXISTS models (
    series_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    start_idx INTEGER NOT NULL,
    meta TEXT NOT NULL,
    state BLOB NOT NULL,
    calibration TEXT NOT NULL
);
"""

# The point count and last timestamp of a series are read from its blocks (Store.progress);
# the copies in ``series`` were never read back. SQLite before 3.35 has no DROP COLUMN, so
# the table is rebuilt (SQLite's documented recipe for other table changes).
_V2 = """
CREATE TABLE series_v2 (
    id TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    params TEXT NOT NULL,
    train_points INTEGER NOT NULL,
    refit_every INTEGER NOT NULL,
    quantile REAL NOT NULL,
    labels TEXT NOT NULL,
    source TEXT NOT NULL,
    n_channels INTEGER,
    -- scored: a lower bound set on reconfiguration; score_blocks give the rest
    scored INTEGER NOT NULL DEFAULT 0,
    next_boundary INTEGER NOT NULL,
    model_version INTEGER NOT NULL DEFAULT 0,
    model_start INTEGER,
    error TEXT,
    created_at REAL NOT NULL
);
INSERT INTO series_v2 SELECT id, detector, params, train_points, refit_every, quantile, labels,
    source, n_channels, scored, next_boundary, model_version, model_start, error, created_at
    FROM series;
DROP TABLE series;
ALTER TABLE series_v2 RENAME TO series;
"""

MIGRATIONS = (
    Migration(1, "series, point blocks, score blocks and models", _V1),
    Migration(2, "series: drop the unused count and last_ts copies", _V2),
)
LATEST = MIGRATIONS[-1].version


def version(conn: sqlite3.Connection) -> int:
    """The schema version of the database behind ``conn``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> int:
    """Apply the migrations after the database's version, up to ``target`` (default: the
    latest); the version now.

    ``conn`` is in autocommit mode (``isolation_level=None``). Raises SchemaTooNewError for a
    database past ``LATEST``, and sqlite3.Error from a failed migration (rolled back: the
    database stays at its last whole version).
    """
    found = version(conn)
    if found > LATEST:
        raise SchemaTooNewError(
            f"The database has schema version {found}; this anomalyd knows versions up to "
            f"{LATEST}. Run the newer anomalyd that wrote it, or point --data-dir elsewhere."
        )
    last = LATEST if target is None else target
    for step in MIGRATIONS:
        if found < step.version <= last:
            _apply(conn, step)
    return version(conn)


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    try:
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{step.sql}\nPRAGMA user_version = {step.version};\nCOMMIT;"
        )
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
