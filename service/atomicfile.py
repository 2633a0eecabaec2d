"""Files that appear whole or not at all: written under a temporary name beside the target,
renamed onto it when complete, removed when the writing raises (Ctrl-C included)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def partial_path(target: Path) -> Iterator[Path]:
    """A new empty file beside ``target`` (mode as a plain ``open()`` would give it; mkstemp
    gives 0600) to write; renamed to ``target`` when the block completes."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        tmp.chmod(0o666 & ~umask)  # after writing: a writer may have made the file anew
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
