"""How ``anomalyd backfill`` reports progress: a rich progress bar on a terminal, plain log lines
otherwise, and optionally a metrics file for node_exporter's textfile collector (so Prometheus
can alert on a backfill that stalls: ``AnomalydBackfillStalled`` in ``deploy/prometheus``).

Each is a :class:`~anomalyd.service.backfill.Progress`: told the run's size, then each series
as it is scored (or found in the job table when resuming). Rates and the time left count the
points scored in this run only, so a resumed run's rate is not inflated by what it skipped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichBar

from anomalyd.service.backfill_output import Scored


@dataclass
class Tally:
    """Series and points of a run, done and in all; points scored in this run and since when."""

    series: int = 0
    points: int = 0
    series_done: int = 0
    points_done: int = 0
    points_scored: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, one: Scored, resumed: bool) -> None:
        """Count one series."""
        self.series_done += 1
        self.points_done += len(one.ts)
        self.points_scored += 0 if resumed else len(one.ts)

    def rate(self) -> float:
        """Points scored per second in this run."""
        return self.points_scored / max(time.monotonic() - self.started, 1e-9)

    def left(self) -> timedelta | None:
        """Time to the last point at the current rate (None before a point is scored)."""
        rate = self.rate()
        if rate <= 0:
            return None
        return timedelta(seconds=round((self.points - self.points_done) / rate))


class BarProgress:
    """A progress bar on a terminal: series done of all, points/s, time left."""

    def __init__(self, console: Console) -> None:
        self.tally = Tally()
        self._bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("series  {task.fields[rate]} points/s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("backfill", total=None, rate="-")

    def __enter__(self) -> BarProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, series: int, points: int) -> None:
        self.tally = Tally(series, points)
        self._bar.update(self._task, total=points)

    def advance(self, one: Scored, resumed: bool) -> None:
        self.tally.add(one, resumed)
        self._bar.update(
            self._task,
            completed=self.tally.points_done,
            description=f"{self.tally.series_done}/{self.tally.series}",
            rate=f"{self.tally.rate():,.0f}",
        )


class LogProgress:
    """Plain log lines (not a terminal): one at most every ``every`` seconds, and the last."""

    def __init__(self, stream: TextIO, every: float = 10.0) -> None:
        self.tally = Tally()
        self._stream = stream
        self._every = every
        self._last = -float("inf")

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, series: int, points: int) -> None:
        self.tally = Tally(series, points)
        self._line(f"backfill: {series} series, {points:,} points")

    def advance(self, one: Scored, resumed: bool) -> None:
        self.tally.add(one, resumed)
        t = self.tally
        if time.monotonic() - self._last < self._every and t.series_done < t.series:
            return
        left = t.left()
        eta = f", about {left} left" if left is not None and t.series_done < t.series else ""
        self._line(
            f"backfill: {t.series_done}/{t.series} series, {t.points_done:,}/{t.points:,} "
            f"points, {t.rate():,.0f} points/s{eta}"
        )

    def _line(self, text: str) -> None:
        self._last = time.monotonic()
        print(text, file=self._stream, flush=True)


class MetricsFile:
    """Progress as Prometheus metrics in ``path`` (the textfile collector's format, written
    whole each time by ``prometheus_client.write_to_textfile``), at most once a second and at
    :meth:`finish`. Gauges, labelled with the ``output`` file:

    * ``anomalyd_backfill_series`` / ``anomalyd_backfill_points``: the run's size;
    * ``anomalyd_backfill_series_done`` / ``anomalyd_backfill_points_done``: done so far;
    * ``anomalyd_backfill_last_progress_timestamp_seconds``: unix time of the last series done
      (or of the start);
    * ``anomalyd_backfill_completed``: 1 once the output is written whole, else 0.
    """

    def __init__(
        self, path: Path, output: Path | str, clock: Callable[[], float] = time.time
    ) -> None:
        if path.is_dir() or not path.parent.is_dir():
            raise ValueError(f"--metrics-file {path}: needs a file name in an existing folder.")
        self.tally = Tally()
        self._path = path
        self._clock = clock
        self._failed = False
        self._written = -float("inf")
        self._registry = CollectorRegistry()
        self._gauges = {
            name: Gauge(
                f"anomalyd_backfill_{name}", doc, ["output"], registry=self._registry
            ).labels(output=str(output))
            for name, doc in _METRICS.items()
        }

    def __enter__(self) -> MetricsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, series: int, points: int) -> None:
        self.tally = Tally(series, points)
        self._write(force=True)

    def advance(self, one: Scored, resumed: bool) -> None:
        self.tally.add(one, resumed)
        self._write(force=self.tally.series_done == self.tally.series)

    def finish(self) -> None:
        """The output is whole."""
        self._gauges["completed"].set(1)
        self._write(force=True)

    def _write(self, force: bool) -> None:
        now = self._clock()
        if not force and now - self._written < 1.0:
            return
        t = self.tally
        values: dict[str, float] = {"series": t.series, "points": t.points}
        values |= {"series_done": t.series_done}
        values |= {"points_done": t.points_done, "last_progress_timestamp_seconds": now}
        for name, value in values.items():
            self._gauges[name].set(value)
        self._written = now
        try:
            write_to_textfile(str(self._path), self._registry)
        except OSError as exc:  # progress is not worth the run: say so once, go on
            if not self._failed:
                print(f"warning: cannot write --metrics-file: {exc}", file=sys.stderr)
            self._failed = True


_METRICS = {
    "series": "Series in the backfill run.",
    "points": "Points in the backfill run.",
    "series_done": "Series scored (or found already scored when resuming).",
    "points_done": "Points of the series done.",
    "last_progress_timestamp_seconds": "Unix time the run last finished a series (or started).",
    "completed": "1 once the output is written whole.",
}


class Reports:
    """Several reporters as one; entering it enters each (a bar shows while the run lasts)."""

    def __init__(self, *reporters: BarProgress | LogProgress | MetricsFile) -> None:
        self._reporters = reporters

    def __enter__(self) -> Reports:
        for r in self._reporters:
            r.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for r in self._reporters:
            r.__exit__(*exc)

    def start(self, series: int, points: int) -> None:
        for r in self._reporters:
            r.start(series, points)

    def advance(self, one: Scored, resumed: bool) -> None:
        for r in self._reporters:
            r.advance(one, resumed)

    def finish(self) -> None:
        """The output is whole (the metrics file says so)."""
        for r in self._reporters:
            if isinstance(r, MetricsFile):
                r.finish()
