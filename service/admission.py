"""Admission to the scoring queue: how many accepted points wait to be scored, at most
``capacity`` (``ANOMALYD_QUEUE_CAPACITY``); a write that would pass it is refused (429)."""

from __future__ import annotations

import threading

from anomalyd.service.telemetry import Telemetry


class Admission:
    """The scoring queue's budget of points, shared by the writers and the scheduler."""

    def __init__(self, capacity: int, telemetry: Telemetry) -> None:
        self.capacity = capacity
        self.pending = 0
        self._lock = threading.Lock()
        telemetry.queue_depth.set_function(lambda: self.pending)
        telemetry.queue_capacity.set(capacity)

    def try_reserve(self, n: int) -> bool:
        """Reserve room for ``n`` new points; False when the queue is full."""
        with self._lock:
            if self.pending + n > self.capacity:
                return False
            self.pending += n
            return True

    def force_reserve(self, n: int) -> None:
        """Count points that are already pending (recovery)."""
        with self._lock:
            self.pending += n

    def release(self, n: int) -> None:
        """Points left the queue (scored, null-filled or dropped)."""
        with self._lock:
            self.pending -= n
