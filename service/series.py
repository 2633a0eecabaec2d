"""In-memory state of one series: configuration, stream position, model and pending points."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.detectors.base import Calibrator, Detector
from anomalyd.detectors.echo import Echo
from anomalyd.detectors.streaming import StreamScorer
from anomalyd.service.faults import InvalidInput
from anomalyd.service.storage import SeriesRow

NEVER = 2**62
"""``next_boundary`` of a series that never refits."""

Status = Literal["warming_up", "fitting", "ready", "failed"]
STATUSES: tuple[Status, ...] = ("warming_up", "fitting", "ready", "failed")
MAX_TRAIN_POINTS = 1_000_000


@dataclass(frozen=True)
class SeriesConfig:
    """How a series is scored."""

    detector: str
    params: dict[str, Any]
    train_points: int
    refit_every: int
    quantile: float


def detector_class(name: str) -> type[Detector]:
    """The registered class, as a 422 when unknown or not installed."""
    try:
        return registry.get_class(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    except ImportError as exc:
        raise InvalidInput(
            f"Detector {name!r} is registered but cannot be loaded here ({exc}); "
            "install its extra or choose another detector."
        ) from exc


def validate_config(config: SeriesConfig) -> None:
    """Refuse (422) a configuration that could never fit: unknown detector or bad parameters."""
    detector_class(config.detector)
    try:
        det = registry.create(config.detector, config.params)
        # The contract validates parameters inside fit(); check them now so a bad PUT fails
        # at once instead of when the series reaches `train_points`.
        det.validate_params()
        need = det.min_train_points()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"params: {exc}") from exc
    if config.train_points < need:
        raise InvalidInput(
            f"train_points must be at least {need} for detector {config.detector!r} with "
            f"params {det.get_params()}. Got {config.train_points}: raise train_points or "
            "lower the window."
        )


@dataclass
class LiveModel:
    """A fitted detector, its calibration and the stream scorer that feeds it."""

    detector: Detector
    calibrator: Calibrator
    scorer: StreamScorer
    version: int
    start: int
    calibration: str = ""


class PendingBuffer:
    """Points accepted (durable) but not yet scored, in arrival order.

    Each appended chunk remembers when it arrived (``time.monotonic()``), so the scheduler can
    tell how long a write waited for its scores.
    """

    def __init__(self) -> None:
        self._ts: list[npt.NDArray[np.float64]] = []
        self._values: list[npt.NDArray[np.float64]] = []
        self._n = 0
        self._arrivals: deque[tuple[int, float]] = deque()  # (end offset, arrival time)
        self._appended = 0
        self._dropped = 0

    def __len__(self) -> int:
        return self._n

    def append(self, ts: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> None:
        """Add a chunk."""
        if len(ts):
            self._ts.append(ts)
            self._values.append(values)
            self._n += len(ts)
            self._appended += len(ts)
            self._arrivals.append((self._appended, time.monotonic()))

    def peek(self, n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The first ``n`` points (timestamps, values) without removing them."""
        self._compact()
        return self._ts[0][:n], self._values[0][:n]

    def drop(self, n: int) -> list[float]:
        """Remove the first ``n`` points; the arrival times of the chunks now fully gone."""
        self._compact()
        self._ts[0] = self._ts[0][n:]
        self._values[0] = self._values[0][n:]
        self._n -= n
        self._dropped += n
        if not len(self._ts[0]):
            self._ts.clear()
            self._values.clear()
        done = []
        while self._arrivals and self._arrivals[0][0] <= self._dropped:
            done.append(self._arrivals.popleft()[1])
        return done

    def clear(self) -> int:
        """Remove everything; return how many points were dropped."""
        n = self._n
        self._ts.clear()
        self._values.clear()
        self._arrivals.clear()
        self._n = 0
        self._dropped = self._appended
        return n

    def _compact(self) -> None:
        if len(self._ts) > 1:
            self._ts = [np.concatenate(self._ts)]
            self._values = [np.concatenate(self._values)]


@dataclass
class FitResult:
    """What a fit job hands back to the scheduler."""

    generation: int
    boundary: int
    detector: Detector | None = None
    calibrator: Calibrator | None = None
    calibration: str = ""
    meta: str = ""
    state: bytes = b""
    context: npt.NDArray[np.float64] | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(eq=False)
class Waiter:
    """A request waiting until the series has scored ``target`` points."""

    target: int
    event: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class SeriesState:
    """Everything the service keeps in memory about one series.

    ``count`` points are stored (indices ``0 .. count - 1``); points below ``scored`` have final
    scores (NULL during warm-up), the rest are in ``pending``. The current model scores points
    below ``next_boundary``; the model for ``next_boundary`` is trained on the ``train_points``
    points before it. ``echo`` is the alert run after point ``scored - 1``
    (``anomalyd.detectors.echo``). Only the scheduler thread changes
    ``model``/``scored``/``next_boundary``; ingestion only appends (``count``, ``pending``) under
    ``lock``.
    """

    id: str
    config: SeriesConfig
    labels: dict[str, str]
    source: str
    created_at: float
    next_boundary: int
    n_channels: int | None = None
    count: int = 0
    scored: int = 0
    last_ts: float | None = None
    model: LiveModel | None = None
    model_version: int = 0
    error: str | None = None
    generation: int = 0
    persisted: bool = False
    deleted: bool = False
    fitting: bool = False
    fit_result: FitResult | None = None
    last_raw: float | None = None
    last_score: float | None = None
    echo: Echo = field(default_factory=Echo)
    pending: PendingBuffer = field(default_factory=PendingBuffer)
    waiters: list[Waiter] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def status(self) -> Status:
        """warming_up, fitting, ready or failed."""
        if self.model is not None:
            return "ready"
        if self.error is not None:
            return "failed"
        if self.count >= self.next_boundary:
            return "fitting"
        return "warming_up"

    def to_row(self) -> SeriesRow:
        """What the store keeps of this series (the ``series`` table's row)."""
        c, model = self.config, self.model
        return SeriesRow(
            id=self.id,
            detector=c.detector,
            params=c.params,
            train_points=c.train_points,
            refit_every=c.refit_every,
            quantile=c.quantile,
            labels=self.labels,
            source=self.source,
            n_channels=self.n_channels,
            scored=self.scored,
            next_boundary=self.next_boundary,
            model_version=self.model_version if model is not None else 0,
            model_start=model.start if model is not None else None,
            error=self.error,
            created_at=self.created_at,
        )

    @classmethod
    def from_row(cls, row: SeriesRow, count: int, last_ts: float | None) -> SeriesState:
        """The state of a stored series with ``count`` points up to ``last_ts`` (its model,
        pending points and alert run are recovered by the engine)."""
        config = SeriesConfig(
            row.detector, row.params, row.train_points, row.refit_every, row.quantile
        )
        return cls(
            id=row.id,
            config=config,
            labels=row.labels,
            source=row.source,
            created_at=row.created_at,
            next_boundary=row.next_boundary,
            n_channels=row.n_channels,
            count=count,
            scored=row.scored,
            last_ts=last_ts,
            model_version=row.model_version,
            error=row.error,
            persisted=True,
        )

    def release_waiters(self, *, everyone: bool = False) -> None:
        """Wake the requests whose points are all scored (or all of them)."""
        keep = []
        for w in self.waiters:
            if everyone or w.target <= self.scored:
                w.event.set()
            else:
                keep.append(w)
        self.waiters = keep


def storable_raw(raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Raw scores as the service stores and publishes them, shape (n_points,): an infinite one
    (a departure beyond float range, e.g. from a span of 1e-300 to 1e300) becomes the largest
    finite float, so it stays in JSON answers and on ``/metrics``; NaN (not scored) stays."""
    top = np.finfo(np.float64).max
    return np.clip(raw, -top, top)
