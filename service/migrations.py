"""The store's schema, as ordered migrations (SQLite ``PRAGMA user_version``).

A database records the last migration applied to it in ``user_version``; opening it applies
the later ones in order, each in its own transaction with its version bump, so a crash leaves
the database at a whole version. Version 0 is a new file or one written before the schema had
versions (migration 1 creates only what is missing, so both reach version 1). A database of a
newer anomalyd than this one is refused, not changed.

A migration is appended, never edited: what a version means is fixed once released. There is
no downgrade: an older anomalyd cannot read a database a newer one has migrated (back the data
directory up before upgrading).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Migration:
    """One schema step: ``version`` (1, 2, ...), what it changes, and its SQL script."""

    version: int
    what: str
    sql: str


class SchemaError(RuntimeError):
    """The database cannot be opened by this anomalyd; the message says why and what to do."""


class SchemaTooNewError(SchemaError):
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


def upgrade(path: Path) -> int:
    """Bring the database file at ``path`` (created if missing) to ``LATEST``; its version.

    Checks before it changes anything: raises SchemaTooNewError for a newer database and
    SchemaError for an unversioned one whose tables are not the first version's. Raises
    sqlite3.Error from a migration that fails (rolled back: the database stays at its last
    whole version).
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        return migrate(conn)
    finally:
        conn.close()


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> int:
    """Apply the migrations after the database's version, up to ``target`` (default: the
    latest), each in one ``BEGIN IMMEDIATE`` transaction that re-reads the version (a second
    process migrating the same file applies nothing twice); the version now.

    ``conn`` is in autocommit mode (``isolation_level=None``) with no transaction open
    (ValueError otherwise). Raises like :func:`upgrade`.
    """
    if conn.in_transaction:
        raise ValueError("migrate needs a connection with no transaction open.")
    found = version(conn)
    if found > LATEST:
        raise SchemaTooNewError(
            f"The database has schema version {found}; this anomalyd knows versions up to "
            f"{LATEST}. Run the newer anomalyd that wrote it, or point --data-dir elsewhere."
        )
    if found == 0:
        _check_unversioned(conn)
    last = LATEST if target is None else target
    for step in MIGRATIONS:
        if found < step.version <= last:
            _apply(conn, step)
    return version(conn)


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version(conn) < step.version:
            for statement in statements(step.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step.version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def statements(script: str) -> list[str]:
    """The SQL statements of ``script``, one per item (semicolons in comments are text)."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip() != ";":  # the empty piece after the last semicolon
                out.append(buf.strip())
            buf = ""
    buf = buf[:-1]  # the split's last piece had no semicolon after it
    if buf.strip():
        raise ValueError(f"Incomplete SQL statement at the end of a migration: {buf.strip()!r}")
    return out


def _columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Column names of every table of ``conn``'s main database."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}  # noqa: S608


def _check_unversioned(conn: sqlite3.Connection) -> None:
    """An unversioned database is new, or holds the first version's tables as they were."""
    found = _columns(conn)
    if not found:
        return
    first = sqlite3.connect(":memory:")
    first.executescript(_V1)
    expected = _columns(first)
    first.close()
    if found != expected:
        raise SchemaError(
            "The database predates schema versions and its tables are not the first "
            f"version's (found {sorted(found)}): it was written by an older anomalyd than this "
            "one can upgrade. Export its series with that version, or point --data-dir "
            "elsewhere."
        )
