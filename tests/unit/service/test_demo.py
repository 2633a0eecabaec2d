"""``make run``'s demo: run again over the same data folder, it still reports every alert."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from anomalyd.service import demo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _summary(console: Console) -> str:
    return console.export_text(clear=False).strip().splitlines()[-1]


@pytest.mark.timeout(300)
def test_a_resumed_demo_summarises_the_alerts_already_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = np.random.default_rng(0).normal(50.0, 1.0, 1500)
    values[1200] = 90.0
    rows = [(1.4e9 + 300.0 * i, float(v), int(i == 1200)) for i, v in enumerate(values)]
    monkeypatch.setattr(demo, "_rows", lambda: rows)
    monkeypatch.setenv("ANOMALYD_DEFAULT_DETECTOR", "mad")  # fast; the demo's logic is the same
    port = _free_port()
    server = demo._start_server("127.0.0.1", port, tmp_path)
    first, again = Console(record=True, width=300), Console(record=True, width=300)
    try:
        demo.replay(f"http://127.0.0.1:{port}", first, rate=1e6, chunk=500)
        demo.replay(f"http://127.0.0.1:{port}", again, rate=1e6, chunk=500)
    finally:
        server.should_exit = True
    assert "1 of them at NAB's 1 labelled" in _summary(first)  # the spike alerted
    assert _summary(again) == _summary(first)
    assert "resuming after the 1500 points already stored" in again.export_text(clear=False)
