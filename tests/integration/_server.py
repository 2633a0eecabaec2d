"""Run ``python -m anomalyd.service.server`` as a child process for integration tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def system_binary(names: tuple[str, ...], packages: str) -> str:
    """Path of the first of ``names`` on PATH; skip when none is (fail under ``CI=true``,
    where the setup installs them), saying which Debian ``packages`` to install."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    msg = f"{' / '.join(names)} not found: install the Debian packages {packages} to run this test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def wait_until(found: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Poll ``found`` every 0.1 s until it returns something truthy, and return that.
    Raises AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def answers_ok(url: str, proc: subprocess.Popen[bytes], log: Path | None = None) -> bool:
    """True when ``url`` answers 200; raises RuntimeError (with the log) when ``proc`` exited."""
    if proc.poll() is not None:
        raise RuntimeError(f"exited early:\n{log.read_text() if log else ''}")
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """The real service on ``data_dir``; ``kill()`` is ``kill -9``."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        cmd = [sys.executable, "-m", "anomalyd.service.server", "--data-dir", str(self.data_dir)]
        cmd += ["--port", str(self.port), "--log-level", "warning"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        proc = self.proc
        what = f"{self.url}/readyz (log: {self.log})"
        wait_until(lambda: answers_ok(f"{self.url}/readyz", proc, self.log), what, timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait (uvicorn shuts down gracefully)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
