"""Alert quality where users live: how often the service's DEFAULT alert line pages on everyday
metrics, and whether it pages when something does happen.

Run from the repository root::

    .venv/bin/python benchmarks/alert_quality.py            # 10 kinds x 3 variants, 14 days
    .venv/bin/python benchmarks/alert_quality.py --quick    # smoke run (2 kinds, 2 variants)
    .venv/bin/python benchmarks/alert_quality.py --kinds gaussian,latency --days 10 --json out.json

Data. Seeded synthetic metrics at 5-minute steps (288 points a day, ``--days`` days, day 0 a
Monday) of ten everyday kinds: i.i.d. Gaussian noise, a heavy-tailed gauge (Student t, df 3), a
daily CPU-like cycle, daily + weekly business traffic, zero-inflated error counts, AR(1) latency
(phi 0.9, lognormal, positive), Poisson request counts, a batch job (a square bump every 6
hours), a queue length (random walk clipped at [0, 50]) and a slowly drifting gauge. Each kind
has a noise scale ``sigma`` that events are sized by, and comes in three variants sharing the
same underlying draws:

* ``stable``: nothing injected;
* ``events``: after day 3 (or after the first model, if that comes later), spikes (one
  point, 6-10 sigma), dips (one point, -6-10 sigma), short level shifts (1-3 hours, 4-6 sigma)
  and variance bursts (1-2 hours, 4x the noise), two of each per 11 days, at random places at
  least 36 points apart; each labelled with its span;
* ``shift``: a permanent level shift at day 7 (+6 sigma; counts: the rate doubles).

Service. The real service runs in this process with its DEFAULT settings (``create_app(
load_settings(data_dir=tmp), build_registry())`` under uvicorn on a free port; no series is
configured, so whatever the defaults are is what is measured). Every series is streamed over
REST one day (288 points) per ``POST /v1/series/{id}/points``, all series advancing a day
together on ``--threads`` client threads; after the last day the benchmark waits until no
point is pending (as long as points get scored or fits run: on a replay the service can be days
of points behind, since each refit waits for its span's scores), then reads every score back
with ``GET /v1/series/{id}/scores``. Scores depend only on the data, not on the sending pace.
``--replay JOBS`` scores each series with ``anomalyd.service.replay`` in JOBS processes instead: the
same numbers the service stores (tested in ``tests/unit/service/test_replay.py``), without HTTP,
for development runs.

Figures (an alarm is ``anomaly_score > 1``; points after the end of day 2 count; points
without a score are left out and counted as ``unscored``):

* stable: false-alarm rate = share of scored points alarming; ``crit`` = share scoring > 2;
* events: events caught (an alarm inside the span or up to 12 points after it) over all
  events, and the false-alarm rate away from events (points more than 12 points from every
  event point), both from ``anomalyd.metrics.alerts.alert_metrics(labels, alarms, window=12)``;
  beside it (``FA >64``, not a target) the same beyond 64 points, the window of the default's
  64-point members: the alarms that are not an event lingering inside the model's windows;
* shift: share of points alarming from 3 days after the shift to the end (``after+3d``), whether
  the shift raised an alarm within a day (``seen``) and after how many days the daily alarm
  share stays below 2% for good (``settles``).

Per kind, then the median and the worst over kinds, beside the targets: stable false alarms
median <= 1% and worst <= 3%; >= 80% of events caught with false alarms away from them median
<= 1%; median <= 2% alarming from three days after a permanent shift (PASS / FAIL each).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from scipy.signal import lfilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomalyd.metrics.alerts import alert_metrics  # noqa: E402
from anomalyd.service.app import create_app  # noqa: E402
from anomalyd.service.engine import Engine  # noqa: E402
from anomalyd.service.evaluation import one_thread_worker  # noqa: E402
from anomalyd.service.replay import Replay, replay  # noqa: E402
from anomalyd.service.series import SeriesConfig  # noqa: E402
from anomalyd.service.server import build_registry  # noqa: E402
from anomalyd.service.settings import load_settings  # noqa: E402
from anomalyd.service.training import first_boundary  # noqa: E402

DAY = 288  # points per day at 5-minute steps
STEP_S = 300
T0 = 1_699_833_600  # 2023-11-13 00:00 UTC, a Monday: day 0 of every series
WINDOW = 12  # an alarm up to 12 points (1 hour) after an event still catches it
LINGER = 64  # the default's 64-point members' window: how long an event stays inside it
MEASURE_FROM_DAY = 2  # figures count the points after the end of day 2
EVENT_DAY = 3  # events come after day 3 (or after the first training span)
SHIFT_DAY = 7  # the permanent shift
SETTLE_DAYS = 3  # the shift figure counts from 3 days after the shift
SETTLED_SHARE = 0.02  # a day "settled" after a shift alarms on fewer than 2% of its points
EVENT_GAP = 36  # points between events
EVENTS_PER_TYPE_DAYS = 5  # one event of each type per 5 days of event room (14 days: 2 each)
VARIANTS = ("stable", "events", "shift")
Generator = Callable[[np.random.Generator, np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------- data
def _hours(n: int) -> np.ndarray:
    return (np.arange(n) % DAY) / 12.0


def gaussian(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """i.i.d. N(50, 2)."""
    return 50.0 + 2.0 * rng.normal(size=len(mult))


def heavy_tail(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """50 + 2 t(3): occasional large values that are normal for this gauge."""
    return 50.0 + 2.0 * rng.standard_t(3, size=len(mult))


def cpu_daily(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """CPU %: a daily sine (peak mid-afternoon) plus N(0, 3) noise."""
    n = len(mult)
    return 40.0 + 25.0 * np.sin(2 * np.pi * (_hours(n) - 9.0) / 24.0) + 3.0 * rng.normal(size=n)


def business(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """Requests/s of a business app: a daytime hump, weekends at 30%, N(0, 20) noise."""
    n = len(mult)
    weekday = (np.arange(n) // DAY) % 7 < 5
    hump = np.exp(-0.5 * ((_hours(n) - 14.0) / 3.0) ** 2) * np.where(weekday, 1.0, 0.3)
    return 200.0 + 800.0 * hump + 20.0 * rng.normal(size=n)


def error_counts(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """Errors per step: mostly 0; a burst (1 + Poisson(3)) with probability 2% x ``mult``."""
    n = len(mult)
    burst = rng.random(n) < 0.02 * mult
    return np.where(burst, 1 + rng.poisson(3.0, size=n), 0).astype(np.float64)


LATENCY_INNOVATION = 0.05


def latency(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """Latency ms: 120 exp(a), a AR(1) with phi 0.9 (lognormal, autocorrelated, positive)."""
    e = LATENCY_INNOVATION * rng.normal(size=len(mult))
    e[0] /= math.sqrt(1 - 0.81)  # start in the stationary distribution
    return 120.0 * np.exp(lfilter([1.0], [1.0, -0.9], e))


def requests(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """Requests per step: Poisson(200 x ``mult``)."""
    return rng.poisson(200.0 * mult).astype(np.float64)


def batch_jobs(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """A gauge at 5 (N(0, 0.5) noise) with a +20 bump for 30 minutes every 6 hours."""
    n = len(mult)
    return 5.0 + 20.0 * (np.arange(n) % 72 < 6) + 0.5 * rng.normal(size=n)


def queue_length(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """A random walk (N(0, 1.5) steps) clipped at [0, 50], from 10."""
    steps, q = 1.5 * rng.normal(size=len(mult)), 10.0
    out = np.empty(len(mult))
    for i, s in enumerate(steps):
        q = min(max(q + s, 0.0), 50.0)
        out[i] = q
    return out


def slow_drift(rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """A gauge rising by 0.5 a day (one sigma) from 20, N(0, 0.5) noise: disk usage."""
    n = len(mult)
    return 20.0 + 0.5 * np.arange(n) / DAY + 0.5 * rng.normal(size=n)


@dataclass(frozen=True)
class Kind:
    """One everyday metric: its generator and how events are sized and bounded."""

    name: str
    make: Generator
    sigma: float  # the noise scale events are sized by
    count: bool = False  # a rate: the permanent shift doubles it instead of adding 6 sigma
    dips: bool = True  # False where a downward event would vanish at the floor (0)
    integer: bool = False
    lo: float | None = None
    hi: float | None = None


KINDS = (
    Kind("gaussian", gaussian, 2.0),
    Kind("heavy_tail", heavy_tail, 2.0 * math.sqrt(3.0)),  # the t(3) standard deviation
    Kind("cpu_daily", cpu_daily, 3.0, lo=0.0, hi=100.0),
    Kind("business", business, 20.0, lo=0.0),
    Kind("error_counts", error_counts, 2.0, count=True, dips=False, integer=True, lo=0.0),
    Kind("latency", latency, 120.0 * LATENCY_INNOVATION / math.sqrt(1 - 0.81), lo=1.0),
    Kind("requests", requests, math.sqrt(200.0), count=True, integer=True, lo=0.0),
    Kind("batch_jobs", batch_jobs, 0.5, lo=0.0),
    Kind("queue_length", queue_length, 1.5, dips=False, integer=True, lo=0.0),
    Kind("slow_drift", slow_drift, 0.5),
)
KIND_NAMES = tuple(k.name for k in KINDS)
QUICK_KINDS = ("gaussian", "requests")


@dataclass
class Series:
    """One generated series: values, labelled event spans ``[start, end)``, shift index."""

    sid: str
    kind: str
    variant: str
    values: np.ndarray
    spans: list[tuple[int, int]] = field(default_factory=list)
    shift_at: int | None = None

    def labels(self) -> np.ndarray:
        """0/1 per point: 1 inside an event span."""
        lab = np.zeros(len(self.values), dtype=np.int64)
        for s, e in self.spans:
            lab[s:e] = 1
        return lab


def finish(kind: Kind, x: np.ndarray) -> np.ndarray:
    """Bounds and rounding of the kind, applied after events are added."""
    x = np.clip(x, kind.lo, kind.hi) if kind.lo is not None or kind.hi is not None else x
    return np.round(x) if kind.integer else x


def place_spans(
    rng: np.random.Generator, lengths: Sequence[int], lo: int, hi: int
) -> list[tuple[int, int] | None]:
    """Random ``[start, end)`` spans in ``[lo, hi)``, ``EVENT_GAP`` apart (None: no room)."""
    placed: list[tuple[int, int]] = []
    out: list[tuple[int, int] | None] = []
    for length in lengths:
        span = None
        for _ in range(1000):
            s = int(rng.integers(lo, max(hi - length, lo + 1)))
            if s + length <= hi and all(
                s + length + EVENT_GAP <= a or b + EVENT_GAP <= s for a, b in placed
            ):
                span = (s, s + length)
                placed.append(span)
                break
        out.append(span)
    return out


def event_delta(kind: Kind, etype: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """What one event adds to the values over its span."""
    up = 1.0 if etype == "spike" or not kind.dips else float(rng.choice([-1.0, 1.0]))
    if etype in ("spike", "dip"):
        sign = -1.0 if etype == "dip" and kind.dips else 1.0
        return np.full(length, sign * rng.uniform(6.0, 10.0) * kind.sigma)
    if etype == "shift":
        return np.full(length, up * rng.uniform(4.0, 6.0) * kind.sigma)
    return math.sqrt(15.0) * kind.sigma * rng.normal(size=length)  # 4x the noise in total


def event_plan(rng: np.random.Generator, per_type: int) -> list[tuple[str, int]]:
    """(type, length in points) of every event of a series, in random order."""
    lengths = {"spike": (1, 1), "dip": (1, 1), "shift": (12, 36), "burst": (12, 24)}
    plan = [(t, int(rng.integers(a, b + 1))) for t, (a, b) in lengths.items()] * per_type
    return [plan[i] for i in rng.permutation(len(plan))]


def with_events(kind: Kind, base: np.ndarray, rng: np.random.Generator, start: int) -> Series:
    """The ``events`` variant: events placed after ``start``; spans that found no room dropped."""
    n = len(base)
    plan = event_plan(rng, max(1, (n - start) // (EVENTS_PER_TYPE_DAYS * DAY)))
    spans = place_spans(rng, [length for _, length in plan], start, n - WINDOW)
    delta, kept = np.zeros(n), []
    for (etype, length), span in zip(plan, spans, strict=True):
        if span is not None:
            delta[span[0] : span[1]] += event_delta(kind, etype, length, rng)
            kept.append(span)
    return Series(
        f"{kind.name}-events", kind.name, "events", finish(kind, base + delta), sorted(kept)
    )


def make_series(kind: Kind, variant: str, n: int, seed: int, event_start: int) -> Series:
    """One series; the variants of a kind share the underlying draws (same base noise)."""
    k = KIND_NAMES.index(kind.name)
    mult = np.ones(n)
    shift_at = SHIFT_DAY * DAY if variant == "shift" else None
    if shift_at is not None and kind.count:
        mult[shift_at:] = 2.0
    base = kind.make(np.random.default_rng([seed, k]), mult)
    if variant == "events":
        return with_events(kind, base, np.random.default_rng([seed, k, 1]), event_start)
    if shift_at is not None and not kind.count:
        base[shift_at:] += 6.0 * kind.sigma
    return Series(f"{kind.name}-{variant}", kind.name, variant, finish(kind, base), [], shift_at)


# ---------------------------------------------------------------------------------- service
@dataclass
class Config:
    """What to run."""

    days: int = 14
    kinds: tuple[str, ...] = KIND_NAMES
    variants: tuple[str, ...] = VARIANTS
    seed: int = 0
    threads: int = 8
    stall_s: float = 300.0  # stop waiting for scores after this long without progress
    max_wait_s: float = 7200.0
    json: Path | None = None
    jobs: int = 0  # > 0: anomalyd.service.replay in this many processes instead of the service


@dataclass
class Traffic:
    """What the service did while it was fed: request latencies, errors, retries, waits."""

    post_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries_429: int = 0
    pending_in_replies: int = 0
    settle_s: float = 0.0
    day_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the lock)."""
        keys = ("post_s", "errors", "retries_429", "pending_in_replies", "settle_s", "day_s")
        return {k: getattr(self, k) for k in keys}


@dataclass
class Running:
    """The service running in this process."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str
    engine: Engine


def start_server(data_dir: Path) -> Running:
    """The service with its default settings in a thread on a free port (as service/demo.py)."""
    app = create_app(load_settings(data_dir=data_dir), build_registry())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Running(server, thread, f"http://127.0.0.1:{port}", app.state.engine)


def post_day(client: httpx.Client, s: Series, day: int, traffic: Traffic) -> None:
    """Send one day of ``s``; retry on 429, record anything else that is not a 2xx."""
    lo, hi = day * DAY, min((day + 1) * DAY, len(s.values))
    body = {
        "timestamps": [T0 + i * STEP_S for i in range(lo, hi)],
        "values": s.values[lo:hi].tolist(),
    }
    t0 = time.perf_counter()
    try:
        resp = post_until_taken(client, f"/v1/series/{s.sid}/points", body, traffic)
    except httpx.HTTPError as exc:
        with traffic.lock:
            traffic.errors.append(f"{s.sid} day {day}: {exc!r}")
        return
    record_reply(resp, s, day, time.perf_counter() - t0, traffic)


def post_until_taken(
    client: httpx.Client, path: str, body: dict[str, Any], traffic: Traffic
) -> httpx.Response:
    """POST, retrying after ``Retry-After`` while the service answers 429 (queue full)."""
    for _ in range(100):
        resp = client.post(path, json=body)
        if resp.status_code != 429:
            return resp
        with traffic.lock:
            traffic.retries_429 += 1
        time.sleep(float(resp.headers.get("Retry-After", "1")))
    return resp


def record_reply(resp: httpx.Response, s: Series, day: int, secs: float, t: Traffic) -> None:
    """Latency, and the points still unscored when the reply came (or the error)."""
    with t.lock:
        t.post_s.append(secs)
        if resp.is_success:
            t.pending_in_replies += int(resp.json().get("pending", 0))
        else:
            t.errors.append(f"{s.sid} day {day}: {resp.status_code} {resp.text[:200]}")


def stream(url: str, series: list[Series], cfg: Config, traffic: Traffic) -> None:
    """All series advance one day at a time together, on ``cfg.threads`` client threads."""
    with (
        httpx.Client(base_url=url, timeout=300) as client,
        ThreadPoolExecutor(cfg.threads) as pool,
    ):
        t0 = time.perf_counter()
        for day in range(cfg.days):
            list(pool.map(lambda s, d=day: post_day(client, s, d, traffic), series))
            traffic.day_s.append(time.perf_counter() - t0)
            print(f"  day {day + 1}/{cfg.days} sent ({traffic.day_s[-1]:.0f} s)", flush=True)


def fitting(engine: Engine) -> int:
    """Series with a fit queued or running (read in-process: the API says ``ready`` while a
    series that has a model is refitted)."""
    return sum(1 for state in engine.snapshot() if state.fitting)


def settle(client: httpx.Client, engine: Engine, cfg: Config) -> dict[str, Any]:
    """Wait until no point is pending; give up after ``cfg.stall_s`` with neither a new score
    nor a fit in progress, or after ``cfg.max_wait_s``. The last ``/v1/stats``. (The service
    may be days of points behind: each refit waits until its span is scored; the scores do not
    depend on how fast the points were sent.)"""
    start = last_change = shown = time.monotonic()
    last = -1
    while True:
        stats: dict[str, Any] = client.get("/v1/stats").json()
        now = time.monotonic()
        if stats["points_scored"] != last or fitting(engine):
            last, last_change = stats["points_scored"], now
        if stats["points_pending"] == 0 or now - last_change > cfg.stall_s:
            return stats
        if now - start > cfg.max_wait_s:
            return stats
        if now - shown > 60:
            print(f"  waiting for scores: {stats['points_pending']} points pending", flush=True)
            shown = now
        time.sleep(0.5)


def read_scores(client: httpx.Client, s: Series) -> np.ndarray:
    """``anomaly_score`` per point index (NaN: no score, or not stored), paging by time."""
    out, start = np.full(len(s.values), np.nan), None
    while True:
        params: dict[str, Any] = {"limit": 10_000} | ({} if start is None else {"start": start})
        doc = client.get(f"/v1/series/{s.sid}/scores", params=params).json()
        for p in doc["points"]:
            i = round((p["timestamp"] - T0) / STEP_S)
            out[i] = np.nan if p["anomaly_score"] is None else p["anomaly_score"]
        if not doc["truncated"] or not doc["points"]:
            return out
        start = doc["points"][-1]["timestamp"] + 1


def series_info(client: httpx.Client, sid: str) -> dict[str, Any]:
    """The service's view of a series: its (default) configuration, status, model version."""
    doc: dict[str, Any] = client.get(f"/v1/series/{sid}").json()
    keys = ("detector", "train_points", "refit_every", "quantile", "status", "model_version")
    return {k: doc.get(k) for k in (*keys, "error", "pending")}


def default_config() -> SeriesConfig:
    """The configuration the service gives a series it has never been told about."""
    return load_settings().series_config()


def run_replay(series: list[Series], cfg: Config) -> tuple[dict[str, np.ndarray], dict, Traffic]:
    """Score every series with ``anomalyd.service.replay`` in ``cfg.jobs`` processes (one thread
    each): the numbers the service stores for the same points, without HTTP."""
    config = default_config()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(cfg.jobs, mp_context=ctx, initializer=one_thread_worker) as pool:
        done = list(pool.map(replay, [config] * len(series), [s.values for s in series]))
    info = {s.sid: replay_info(config, out) for s, out in zip(series, done, strict=True)}
    scores = {s.sid: out.score for s, out in zip(series, done, strict=True)}
    return scores, {"stats": {}, "series": info}, Traffic()


def replay_info(config: SeriesConfig, out: Replay) -> dict[str, Any]:
    """What the series API would say of a replayed series."""
    return {
        "detector": config.detector,
        "train_points": config.train_points,
        "refit_every": config.refit_every,
        "quantile": config.quantile,
        "status": "ready" if out.models else "failed",
        "model_version": len(out.models),
        "error": out.error,
        "pending": 0,
    }


def run_service(series: list[Series], cfg: Config) -> tuple[dict[str, np.ndarray], dict, Traffic]:
    """Start the service, stream everything, wait for the scores, read them back."""
    traffic = Traffic()
    with tempfile.TemporaryDirectory(prefix="anomalyd-alerts-") as tmp:
        run = start_server(Path(tmp) / "data")
        try:
            stream(run.url, series, cfg, traffic)
            with httpx.Client(base_url=run.url, timeout=300) as client:
                t0 = time.perf_counter()
                stats = settle(client, run.engine, cfg)
                traffic.settle_s = time.perf_counter() - t0
                scores = {s.sid: read_scores(client, s) for s in series}
                info = {s.sid: series_info(client, s.sid) for s in series}
        finally:
            run.server.should_exit = True
            run.thread.join(timeout=60)
    return scores, {"stats": stats, "series": info}, traffic


# ---------------------------------------------------------------------------------- figures
def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if flags.size else None


def stable_figures(score: np.ndarray) -> dict[str, Any]:
    """False-alarm rate and critical share over the scored points after day 2."""
    part = score[MEASURE_FROM_DAY * DAY :]
    scored = part[np.isfinite(part)]
    zeros = np.zeros(len(scored), dtype=np.int64)
    far = alert_metrics(zeros, scored > 1, window=WINDOW) if scored.size else {}
    return {
        "false_alarm_rate": far.get("false_alarm_rate"),
        "critical_share": _share(scored > 2),
        "unscored": int(len(part) - len(scored)),
    }


def event_figures(s: Series, score: np.ndarray) -> dict[str, Any]:
    """Events caught and false alarms away from events, from the first scored point after
    day 2 on (an unscored point inside that stretch counts as no alarm and as ``unscored``)."""
    lo = MEASURE_FROM_DAY * DAY
    finite = np.flatnonzero(np.isfinite(score[lo:]))
    start = lo + int(finite[0]) if finite.size else len(score)
    lab, alarms = s.labels()[start:], np.nan_to_num(score[start:], nan=0.0) > 1
    m = alert_metrics(lab, alarms, window=WINDOW) if len(lab) else {}
    beyond = alert_metrics(lab, alarms, window=LINGER) if len(lab) else {}
    missed = sum(1 for a, _ in s.spans if a < start)  # events before any score: not caught
    caught = round(m.get("event_recall", 0.0) * m.get("n_events", 0)) if lab.any() else 0
    return {
        "events": len(s.spans),
        "caught": caught,
        "missed_unscored": missed,
        "far_false_alarm_rate": _nan_none(m.get("false_alarm_rate", math.nan)),
        "beyond_window_false_alarm_rate": _nan_none(beyond.get("false_alarm_rate", math.nan)),
        "unscored": int(len(score) - lo - finite.size),
    }


def _nan_none(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def daily_shares(score: np.ndarray, first_day: int) -> list[float | None]:
    """Alarm share of the scored points of each day from ``first_day`` on."""
    days = len(score) // DAY
    out = []
    for d in range(first_day, days):
        part = score[d * DAY : (d + 1) * DAY]
        out.append(_share(part[np.isfinite(part)] > 1))
    return out


def settles_after(shares: list[float | None]) -> int | None:
    """First day (counted from the shift) after which every day alarms below 2%."""
    for d in range(len(shares)):
        if all(x is not None and x < SETTLED_SHARE for x in shares[d:]):
            return d
    return None


def shift_figures(s: Series, score: np.ndarray) -> dict[str, Any]:
    """Alarm share from 3 days after the shift to the end; seen within a day; settling day."""
    at = s.shift_at if s.shift_at is not None else len(score)
    late = score[at + SETTLE_DAYS * DAY :]
    first_day = score[at : at + DAY]
    shares = daily_shares(score, at // DAY)
    return {
        "alarm_share_after": _share(late[np.isfinite(late)] > 1),
        "seen": bool((np.nan_to_num(first_day) > 1).any()) if first_day.size else None,
        "settles_after_days": settles_after(shares),
        "daily_shares": shares,
        "unscored": int(np.isnan(score[MEASURE_FROM_DAY * DAY :]).sum()),
    }


def figures(s: Series, score: np.ndarray) -> dict[str, Any]:
    """The variant's figures of one series, and its alarm share per day (JSON only)."""
    if s.variant == "stable":
        out = stable_figures(score)
    elif s.variant == "events":
        out = event_figures(s, score)
    else:
        out = shift_figures(s, score)
    return out | {"alarm_share_by_day": daily_shares(score, 0)}


# ---------------------------------------------------------------------------------- summary
def _median(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.median(vals)) if vals else None


def _worst(xs: Sequence[float | None], lowest: bool = False) -> float | None:
    vals = [x for x in xs if x is not None]
    return (min(vals) if lowest else max(vals)) if vals else None


def summarize(rows: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Median / worst over kinds of every figure, and events caught over all events."""
    col = {v: [r[v] for r in rows.values() if v in r] for v in VARIANTS}
    recall = [r["caught"] / r["events"] if r["events"] else None for r in col["events"]]
    out: dict[str, Any] = {}
    for name, xs, lowest in (
        ("stable_false_alarm", [r["false_alarm_rate"] for r in col["stable"]], False),
        ("stable_critical", [r["critical_share"] for r in col["stable"]], False),
        ("events_recall", recall, True),
        ("events_far_false_alarm", [r["far_false_alarm_rate"] for r in col["events"]], False),
        (
            "events_beyond_window_false_alarm",
            [r["beyond_window_false_alarm_rate"] for r in col["events"]],
            False,
        ),
        ("shift_alarm_after", [r["alarm_share_after"] for r in col["shift"]], False),
    ):
        out[name] = {"median": _median(xs), "worst": _worst(xs, lowest)}
    n_events = sum(r["events"] for r in col["events"])
    caught = sum(r["caught"] for r in col["events"])
    out["events_caught"] = {
        "caught": caught,
        "events": n_events,
        "share": caught / n_events if n_events else None,
    }
    return out


@dataclass(frozen=True)
class Target:
    """One target: a summary figure, a bound and its direction."""

    label: str
    figure: tuple[str, str]
    bound: float
    at_least: bool = False

    def verdict(self, summary: dict[str, Any]) -> str:
        x = summary[self.figure[0]][self.figure[1]]
        if x is None:
            return "n/a"
        return "PASS" if (x >= self.bound if self.at_least else x <= self.bound) else "FAIL"


TARGETS = (
    Target("stable: false alarms, median <= 1%", ("stable_false_alarm", "median"), 0.01),
    Target("stable: false alarms, worst <= 3%", ("stable_false_alarm", "worst"), 0.03),
    Target("events: caught >= 80% (all events)", ("events_caught", "share"), 0.80, True),
    Target("events: false alarms away, median <= 1%", ("events_far_false_alarm", "median"), 0.01),
    Target("shift: alarming from +3 days, median <= 2%", ("shift_alarm_after", "median"), 0.02),
)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def table(rows: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One line per kind: the figures of each variant it ran."""
    head = (
        f"{'kind':<13} {'stable FA':>9} {'crit>2':>7} {'unsc':>5} | {'caught':>7} "
        f"{'FA away':>8} {'FA >64':>7} {'unsc':>5} | {'after+3d':>8} {'seen':>4} {'settles':>7}"
    )
    lines = [head, "-" * len(head)]
    for kind, r in rows.items():
        st, ev, sh = r.get("stable", {}), r.get("events", {}), r.get("shift", {})
        caught = f"{ev['caught']}/{ev['events']}" if ev else "-"
        settles = sh.get("settles_after_days") if sh else None
        lines.append(
            f"{kind:<13} {_pct(st.get('false_alarm_rate')):>9} "
            f"{_pct(st.get('critical_share')):>7} {st.get('unscored', '-'):>5} | {caught:>7} "
            f"{_pct(ev.get('far_false_alarm_rate')):>8} "
            f"{_pct(ev.get('beyond_window_false_alarm_rate')):>7} {ev.get('unscored', '-'):>5} | "
            f"{_pct(sh.get('alarm_share_after')):>8} {_seen(sh):>4} "
            f"{'-' if not sh else ('never' if settles is None else f'{settles} d'):>7}"
        )
    return "\n".join(lines)


def _seen(sh: dict[str, Any]) -> str:
    return "-" if not sh or sh["seen"] is None else ("yes" if sh["seen"] else "no")


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Median / worst over kinds, then each target with its verdict."""
    lines = []
    for name in (
        "stable_false_alarm",
        "stable_critical",
        "events_recall",
        "events_far_false_alarm",
        "events_beyond_window_false_alarm",
        "shift_alarm_after",
    ):
        x = summary[name]
        lines.append(f"{name:<32} median {_pct(x['median']):>8}   worst {_pct(x['worst']):>8}")
    ec = summary["events_caught"]
    lines.append(f"events caught, all kinds: {ec['caught']}/{ec['events']} = {_pct(ec['share'])}")
    for t in TARGETS:
        x = summary[t.figure[0]][t.figure[1]]
        lines.append(f"target {t.label:<44} {_pct(x):>8}  {t.verdict(summary)}")
    return lines


# ---------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> Config:
    """The command line as a :class:`Config` (``--quick`` picks its own kinds and days)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--days", type=int, default=None, help="days per series (default 14)")
    p.add_argument("--kinds", default=",".join(KIND_NAMES), help="comma list of kinds")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma list of variants")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=8, help="client threads")
    p.add_argument("--json", type=Path, default=None, help="write every figure here")
    p.add_argument("--quick", action="store_true", help="2 kinds, stable + events, few days")
    p.add_argument(
        "--replay",
        type=int,
        default=0,
        metavar="JOBS",
        help="score with anomalyd.service.replay in JOBS processes instead of streaming over HTTP "
        "(the same scores, tested; for development runs)",
    )
    a = p.parse_args(argv)
    kinds, variants = _names(a.kinds, KIND_NAMES, "kind"), _names(a.variants, VARIANTS, "variant")
    if a.quick:
        kinds, variants = QUICK_KINDS, ("stable", "events")
    days = a.days if a.days is not None else quick_days() if a.quick else 14
    if days < MEASURE_FROM_DAY + 1:
        raise SystemExit(f"--days must be at least {MEASURE_FROM_DAY + 1}.")
    return Config(
        days, kinds, variants, a.seed, max(a.threads, 1), json=a.json, jobs=max(a.replay, 0)
    )


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [x for x in names if x not in known]
    if unknown or not names:
        raise SystemExit(f"unknown {what}(s) {unknown or text!r}; known: {', '.join(known)}")
    return names


def first_model_points() -> int:
    """Points a default series needs before its first model (the service's first boundary)."""
    return first_boundary(default_config())


def quick_days() -> int:
    """Enough days for the first model plus two scored days (and the events after day 3)."""
    return max(EVENT_DAY + 1, math.ceil(first_model_points() / DAY) + 2)


def build(cfg: Config, event_start: int) -> list[Series]:
    n = cfg.days * DAY
    by_name = {k.name: k for k in KINDS}
    return [
        make_series(by_name[k], v, n, cfg.seed, event_start)
        for k in cfg.kinds
        for v in cfg.variants
    ]


def notes_for(cfg: Config, info: dict[str, Any], traffic: Traffic) -> list[str]:
    """Anything odd about the run or the service's behaviour."""
    notes = [
        f"{k}={v} is set: the service reads it"
        for k, v in sorted(os.environ.items())
        if k.startswith("ANOMALYD_")
    ]
    if "shift" in cfg.variants and cfg.days < SHIFT_DAY + SETTLE_DAYS + 1:
        notes.append(f"shift figures need --days >= {SHIFT_DAY + SETTLE_DAYS + 1}")
    series = info["series"].items()
    notes += [
        f"series {sid}: status {d['status']}, error {d['error']}"
        for sid, d in series
        if d["status"] != "ready" or d["error"]
    ]
    pending = {sid: d["pending"] for sid, d in series if d["pending"]}
    if pending:
        notes.append(
            f"gave up waiting: {sum(pending.values())} points of {len(pending)} "
            f"series never scored (counted as unscored)"
        )
    notes += [f"write refused: {e}" for e in traffic.errors[:10]]
    return notes


def service_line(info: dict[str, Any], traffic: Traffic) -> str:
    """What the service was (its defaults, as it reports them) and how it behaved."""
    configs = {
        (d["detector"], d["train_points"], d["refit_every"], d["quantile"])
        for d in info["series"].values()
    }
    versions = [d["model_version"] for d in info["series"].values()]
    post = np.array(traffic.post_s) if traffic.post_s else np.zeros(1)
    return (
        f"service defaults seen (detector, train_points, refit_every, quantile): "
        f"{sorted(configs)}; model versions {min(versions)}..{max(versions)}\n"
        f"POST per day: median {np.median(post):.2f} s, max {post.max():.2f} s; "
        f"points pending in replies {traffic.pending_in_replies}; 429 retries "
        f"{traffic.retries_429}; errors {len(traffic.errors)}; waited {traffic.settle_s:.1f} s "
        f"for the last scores"
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    t0 = time.perf_counter()
    event_start = max(EVENT_DAY * DAY, math.ceil(first_model_points() / DAY) * DAY)
    series = build(cfg, event_start)
    print(
        f"alert quality: {len(cfg.kinds)} kinds x {len(cfg.variants)} variants, "
        f"{cfg.days} days at 5 min, seed {cfg.seed}, events from point {event_start}"
    )
    run = run_replay if cfg.jobs else run_service
    scores, info, traffic = run(series, cfg)
    rows: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in cfg.kinds}
    for s in series:
        rows[s.kind][s.variant] = figures(s, scores[s.sid])
    summary = summarize(rows)
    wall = time.perf_counter() - t0
    report(cfg, rows, summary, info, traffic, wall)
    return 0


def report(
    cfg: Config, rows: dict, summary: dict, info: dict, traffic: Traffic, wall: float
) -> None:
    """Print the table, summary, targets and notes; write the JSON."""
    notes = notes_for(cfg, info, traffic)
    print(service_line(info, traffic))
    print(table(rows))
    print("\n".join(summary_lines(summary)))
    for note in notes:
        print(f"note: {note}")
    print(f"total {wall:.1f} s")
    if cfg.json is not None:
        doc = {
            "config": {**asdict(cfg), "json": str(cfg.json)},
            "rows": rows,
            "summary": summary,
            "service": info,
            "notes": notes,
            "wall_s": wall,
            "traffic": traffic.to_dict(),
            "targets": {t.label: t.verdict(summary) for t in TARGETS},
        }
        cfg.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
