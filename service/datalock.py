"""One service per data directory: an exclusive ``flock`` on ``anomalyd.lock`` held while a
:class:`~service.storage.Store` is open.

SQLite would let two servers share the file, and each would number the points of a series on
its own (two blocks with the same first index, counts that disagree with the points). The
lock is released by the kernel when the process ends, ``kill -9`` included, so a stale lock
file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "anomalyd.lock"


class DataDirLockedError(RuntimeError):
    """Another process has the data directory open."""


class DataDirLock:
    """Holds the lock of ``data_dir`` from construction to :meth:`release`.

    Raises DataDirLockedError when another process (or another open store in this one) holds
    it, OSError when the lock file cannot be opened.
    """

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / LOCK_FILE
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise DataDirLockedError(
                f"{data_dir} is in use by another anomalyd (pid {holder}); stop it first, or "
                "give this one its own --data-dir."
            ) from exc
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1
