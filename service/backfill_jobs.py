"""The job table of ``anomalyd backfill``: which series are scored, kept until the output is whole.

A SQLite file beside the output (``<output>.backfill.sqlite``) holds every series scored so
far (its arrays as safetensors) under a key made of the run's configuration and the series'
own data, committed one series at a time. An interrupted run (Ctrl-C, SIGTERM, a crash, a bad
source met half-way) leaves it behind; ``--resume`` scores only the series it does not hold
with an equal key, so nothing is scored twice or lost, and a series whose data or
configuration changed is scored again. The output is written from the table, then the table
is deleted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from anomalyd.service.backfill_output import Scored

SCHEMA = """
CREATE TABLE IF NOT EXISTS scored (
    name TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    arrays BLOB NOT NULL
)
"""


class JobTableError(ValueError):
    """A job table in the way (no ``--resume``), or a file that is not one."""


def table_path(output: Path) -> Path:
    """Where the job table of ``output`` lives."""
    return output.with_name(output.name + ".backfill.sqlite")


def _locked(path: Path) -> int:
    """A descriptor of ``path`` holding its exclusive lock. Raises JobTableError when another
    process holds it."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise JobTableError(
            f"another backfill is writing this output (its job table {path} is locked); "
            "wait for it to finish or stop it."
        ) from exc
    return fd


def series_key(config: Mapping[str, object], ts: bytes, values: bytes) -> str:
    """The key a scored series is kept under: SHA-256 of the configuration (JSON) and of the
    series' timestamps and values (their float64 bytes)."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(ts)
    digest.update(values)
    return digest.hexdigest()


class JobTable:
    """The scored series of one output. Owns its connection and an exclusive ``flock`` on
    the file (released by the kernel when the process ends, ``kill -9`` included), so two
    runs never share a table; every write commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        existed = path.exists()
        self._conn = sqlite3.connect(path)  # opens the file lazily: errors come below
        try:
            self._conn.execute(SCHEMA)
            self._conn.execute("SELECT name, key, arrays FROM scored LIMIT 0")
        except sqlite3.Error as exc:
            self._conn.close()
            if not existed:
                raise JobTableError(
                    f"cannot create the job table {path} ({exc}): is its folder writable?"
                ) from exc
            raise JobTableError(
                f"{path} is not a backfill job table ({exc}); move it away or delete it."
            ) from exc
        self._lock = _locked(path)

    @classmethod
    def open(cls, output: Path, resume: bool) -> JobTable:
        """The job table of ``output``: the one left by an interrupted run with ``resume``, a new
        one otherwise. Raises JobTableError when one is left and ``resume`` is false."""
        path = table_path(output)
        if path.exists():
            os.close(_locked(path))  # another run first, an interrupted one second
        if path.exists() and not resume:
            raise JobTableError(
                f"{path} holds the series an interrupted run of this output scored: add --resume "
                "to continue it (they are kept, the rest scored), or delete the file to start "
                "again."
            )
        return cls(path)

    def get(self, name: str, key: str) -> Scored | None:
        """Series ``name`` if it is held with key ``key``, else None."""
        row = self._conn.execute(
            "SELECT key, arrays FROM scored WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[0] != key:
            return None
        try:
            return Scored.from_bytes(name, row[1])
        except Exception:  # noqa: BLE001 - a damaged row is scored again, not trusted
            return None

    def put(self, scored: Scored, key: str) -> None:
        """Keep ``scored`` under ``key`` (replacing what the name held), committed."""
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO scored (name, key, arrays) VALUES (?, ?, ?)",
                (scored.name, key, scored.to_bytes()),
            )

    def count(self) -> int:
        """How many series the table holds."""
        return int(self._conn.execute("SELECT count(*) FROM scored").fetchone()[0])

    def close(self) -> None:
        """Close the connection and release the lock; the file stays."""
        self._conn.close()
        os.close(self._lock)

    def delete(self) -> None:
        """Close and remove the file (the output is whole)."""
        self.close()
        self.path.unlink(missing_ok=True)
