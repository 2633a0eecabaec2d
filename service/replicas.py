"""HA Prometheus pairs: one replica's samples per series (the idea of Cortex' HA tracker).

Two Prometheus replicas scrape the same targets at their own times, so their samples of one
series interleave and differ slightly. Storing both would refuse half of them as out of order
and score a series that jumps between two scrapes. So, per series (its labels without the
replica label), one replica is *elected*: the first one seen. Samples of the other replicas
are dropped (counted, not an error). When the elected replica has sent nothing for
``failover_s`` seconds of sample time (its last sample is that much older than another
replica's first), the other replica is elected. The election is kept in memory: after a
restart the first replica seen is elected again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from anomalyd.service.remote_write import DecodedSeries


@dataclass
class _Elected:
    replica: str
    last_ts: float


class ReplicaElection:
    """Which replica's samples each series keeps.

    Parameters
    ----------
    failover_s : float
        Seconds of sample time without samples from the elected replica after which
        another replica is elected (Cortex' ``ha_tracker_failover_timeout`` is 30 s).
    """

    def __init__(self, failover_s: float) -> None:
        self.failover_s = failover_s
        self._elected: dict[str, _Elected] = {}
        self._lock = threading.Lock()

    def keep(self, series: Sequence[DecodedSeries]) -> tuple[list[DecodedSeries], int]:
        """At most one replica's samples per series: the elected one's (or the series has no
        replica label configured), and the number of samples dropped from the others. A
        series sent without the replica label counts as a replica of its own (``""``)."""
        kept, dropped = [], 0
        chosen: dict[str, str] = {}
        with self._lock:
            for s in sorted(series, key=self._held_first):
                if self._admits(s, chosen):
                    kept.append(s)
                else:
                    dropped += len(s.ts)
        return kept, dropped

    def _admits(self, s: DecodedSeries, chosen: dict[str, str]) -> bool:
        """Whether ``s`` is kept; ``chosen`` maps the series of this request already kept
        to their replica."""
        if s.replica is None:
            return True
        if chosen.get(s.series_id, s.replica) != s.replica or not self._elect(s):
            return False
        chosen[s.series_id] = s.replica
        return True

    def _held_first(self, s: DecodedSeries) -> int:
        """0 for the samples of a series' elected replica: they are looked at first."""
        held = self._elected.get(s.series_id)
        return 0 if held is not None and held.replica == s.replica else 1

    def _elect(self, s: DecodedSeries) -> bool:
        """Whether ``s`` comes from its series' elected replica (electing it if due)."""
        held = self._elected.get(s.series_id)
        last = float(s.ts[-1])
        if held and held.replica == s.replica:
            held.last_ts = max(held.last_ts, last)  # a retried old batch does not rewind it
            return True
        if held and s.ts[0] - held.last_ts <= self.failover_s:
            return False
        self._elected[s.series_id] = _Elected(str(s.replica), last)
        return True
