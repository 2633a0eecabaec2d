"""Prometheus metrics: per-series ``anomaly_score`` gauges and ``anomalyd_*`` self-monitoring."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import UNDERSCORES, escape_label_name
from prometheus_client.registry import Collector

from anomalyd.service.series import STATUSES

if TYPE_CHECKING:
    from anomalyd.service.series import SeriesState

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED = ("detector", "metric")
NAME_LABEL = "metric"
"""A remote-write series' metric name (``__name__``) is exposed as this label."""

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000)
FIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300)


class Telemetry:
    """The service's own metrics, registered on the registry the app was given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingested = Counter(
            "anomalyd_points_ingested",
            "Points stored durably, by source.",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "anomalyd_points_rejected",
            "Points refused (or skipped, for remote-write non-finite samples), by reason.",
            ["source", "reason"],
            registry=registry,
        )
        self.scoring_latency = Histogram(
            "anomalyd_scoring_latency_seconds",
            "Time to score one micro-batch (all series in it).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ingest_to_score = Histogram(
            "anomalyd_ingest_to_score_seconds",
            "Time from a write's points being stored to their scores being stored (one "
            "observation per series per write).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_points = Histogram(
            "anomalyd_batch_points",
            "Points per scoring micro-batch.",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_series = Histogram(
            "anomalyd_batch_series",
            "Series per scoring micro-batch.",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "anomalyd_queue_depth", "Points accepted but not yet scored.", registry=registry
        )
        self.queue_capacity = Gauge(
            "anomalyd_queue_capacity",
            "Queue depth at which writes get 429.",
            registry=registry,
        )
        self.fits = Counter(
            "anomalyd_models_fitted", "Models fitted, by detector.", ["detector"], registry=registry
        )
        self.fit_failures = Counter(
            "anomalyd_fit_failures",
            "Fits that failed, by detector.",
            ["detector"],
            registry=registry,
        )
        self.fit_seconds = Histogram(
            "anomalyd_fit_duration_seconds",
            "Time to fit a detector and its calibrator.",
            buckets=FIT_BUCKETS,
            registry=registry,
        )
        self.throttled = Counter(
            "anomalyd_write_throttled",
            "Write requests answered 429 because the queue was full.",
            ["source"],
            registry=registry,
        )
        self.scoring_errors = Counter(
            "anomalyd_scoring_errors",
            "Series whose scoring raised (the series is marked failed).",
            registry=registry,
        )


def exported_name(key: str) -> str:
    """The label name an input label is exported under (before any escaping)."""
    if key == "__name__":
        return NAME_LABEL
    return f"exported_{key}" if key in RESERVED else key


def exported_clash(labels: Iterable[str]) -> tuple[str, str, str] | None:
    """Two labels (or one and the ``detector`` label) that a Prometheus 2 scrape would see
    under one name, after renaming and its escaping of other characters to ``_``
    (``a.b`` and ``a_b``); ``(first, second, name)`` or ``None``. A repeated label name
    fails the whole scrape."""
    seen = {"detector": "detector"}
    for key in labels:
        name = escape_label_name(exported_name(key), UNDERSCORES)
        if name in seen:
            return seen[name], key, name
        seen[name] = key
    return None


def output_labels(state: SeriesState) -> dict[str, str]:
    """Labels of a series' gauges: its own labels plus ``detector``.

    ``__name__`` becomes ``metric``; an input label that clashes with ``detector`` or ``metric``
    is kept as ``exported_<name>`` (Prometheus' own convention for clashing labels).
    """
    out = {exported_name(key): value for key, value in state.labels.items()}
    out["detector"] = state.config.detector
    return out


class SeriesCollector(Collector):
    """Yields ``anomaly_score``, ``anomaly_raw_score`` and ``anomalyd_series`` at scrape time."""

    def __init__(self, snapshot: Callable[[], Iterable[SeriesState]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        score = Metric(
            "anomaly_score",
            "Calibrated anomaly score; > 1 alerts, exactly 1 is the echo of an alert.",
            "gauge",
        )
        raw = Metric("anomaly_raw_score", "Raw detector score (higher = more anomalous).", "gauge")
        counts = dict.fromkeys(STATUSES, 0)
        for state in self._snapshot():
            counts[state.status] += 1
            if state.last_score is None or state.last_raw is None:
                continue
            labels = output_labels(state)
            score.add_sample("anomaly_score", labels, state.last_score)
            raw.add_sample("anomaly_raw_score", labels, state.last_raw)
        by_status = Metric("anomalyd_series", "Series by status.", "gauge")
        for status, n in counts.items():
            by_status.add_sample("anomalyd_series", {"status": status}, n)
        yield score
        yield raw
        yield by_status
