"""`anomalyd evaluate`: fit on each series' training prefix, score everything, measure the rest.

Per series and detector: fit on rows ``[0, train_end)``, score all rows (the training rows give
the causal context), and compute on rows ``[train_end:]``. With a ``ServiceSchedule`` the rows
from ``train_end`` on are scored instead as the service scores a stream
(``anomalyd.service.replay``): the first model trains on the last ``train_points`` rows of the
prefix, then refits every ``refit_every`` rows on the trailing span with its incidents masked,
each model with its own alert line; the ranking metrics then read each point's score on its
model's calibrated scale (``Calibrator.rank``: unbounded, before the echo rule), since raw
scores of different models are not on one scale (``anomalyd.service.evaluation_scoring``).
Measured:
VUS-PR / VUS-ROC (window W from
``anomalyd.metrics.sliding_window``), PATE with one buffer pair e = d = W (``include_zero=False``,
all thresholds), PATE-F1 of the calibrated detections (``anomaly_score > 1``), AUC-PR, AUC-ROC,
best F1 and PA-F1, with fit and score times. The same detections give the alert-quality metrics
of ``anomalyd.metrics.alert_metrics`` (false-alarm rate on normal points farther than W from a
label, event recall within W after an event, alerts per 1,000 normal points), and
``constant_scores`` flags a detector whose test scores never move (a dead model, which PATE
rates about 0.5, so it looks average in a mean).
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomalyd import metrics
from anomalyd.service.evaluation_scoring import (
    ServiceSchedule,
    score_as_service,
    score_once,
)
from anomalyd.service.suite import LabelledSeries

METRIC_KEYS = (
    *("vus_pr", "vus_roc", "pate", "pate_f1", "auc_pr", "auc_roc", "best_f1", "pa_f1"),
    *("false_alarm_rate", "event_recall", "alerts_per_1000"),
)


def fill_warmup(scores: np.ndarray) -> np.ndarray:
    """Points without a score (no full window yet) and -inf rank lowest: the least anomalous;
    +inf (an overflow on extreme values) ranks with the highest finite score."""
    finite = scores[np.isfinite(scores)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return np.where(np.isposinf(scores), high, np.where(np.isfinite(scores), scores, low))


SCORES = "_scores"
"""Key of the per-series arrays ``evaluate_series(keep_scores=True)`` adds."""

ScoreArrays = dict[str, np.ndarray]


def evaluate_series(
    series: LabelledSeries,
    detector: str,
    params: dict[str, Any],
    *,
    quantile: float = 0.995,
    keep_scores: bool = False,
    schedule: ServiceSchedule | None = None,
) -> dict[str, Any]:
    """Fit, score and measure one series with one detector (once on the training prefix, or
    under ``schedule``). With ``keep_scores``, the result also holds, under ``SCORES``,
    ``raw`` (every point's ranking score, ``SeriesScores.rank``) and ``anomaly_score`` (the
    alert score of the measured rows, NaN on the training prefix): ndarrays of shape
    (n_points,). Raises ValueError when the training prefix is empty or too short, or no row
    follows it."""
    if series.train_end < 1:
        raise ValueError("the training prefix is empty; the model needs rows to fit on.")
    if series.train_end >= len(series.labels):
        raise ValueError("no row follows the training prefix; there is nothing to measure.")
    if schedule is None:
        scored = score_once(series, detector, params, quantile)
    else:
        scored = score_as_service(series, detector, params, quantile, schedule)
    test = slice(series.train_end, None)
    window = metrics.sliding_window(series.values[:, 0])
    out = _measure(series.labels[test], scored.rank[test], scored.alert, window)
    out.update(fit_seconds=scored.fit_seconds, score_seconds=scored.score_seconds)
    if schedule is not None:
        out["models"] = scored.models
        if scored.refit_error is not None:
            out["refit_error"] = scored.refit_error
    if keep_scores:
        full = np.full(len(series.labels), np.nan)
        full[test] = scored.alert
        out[SCORES] = {"raw": scored.rank, "anomaly_score": full}
    return out


def _measure(
    labels: np.ndarray, rank: np.ndarray, alert: np.ndarray, window: int
) -> dict[str, Any]:
    """Every metric of the measured rows: ``labels``, ``rank`` (ranking score) and ``alert``
    (``anomaly_score``) are ndarrays of shape (n_measured,)."""
    out: dict[str, Any] = dict(metrics.evaluate(labels, fill_warmup(rank), window=window))
    alarms = np.nan_to_num(alert, nan=0.0) > 1.0
    out["pate_f1"] = metrics.pate_f1(
        labels, alarms.astype(np.int64), e_buffer=window, d_buffer=window, include_zero=False
    )
    out.update(metrics.alert_metrics(labels, alarms, window=window))
    out.update(metrics.band_precision(labels, alert, window=window))
    out["constant_scores"] = metrics.constant_scores(rank)
    out["window"] = window
    return out


def summarize(per_series: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean of every metric over the series where it is defined (a number, not NaN).

    Also ``false_alarm_rate_median`` (a few noisy series dominate the mean),
    ``constant_series``: how many series got constant scores (a dead model), and the severity
    bands' alarms, real alarms and precision summed over series (:func:`band_summary`).
    """
    out = {}
    for k in [*METRIC_KEYS, "fit_seconds", "score_seconds"]:
        vals = _defined(per_series, k)
        if vals:
            out[k] = float(np.mean(vals))
    far = _defined(per_series, "false_alarm_rate")
    if far:
        out["false_alarm_rate_median"] = float(np.median(far))
    out["constant_series"] = sum(v.get("constant_scores") is True for v in per_series.values())
    return out | band_summary(per_series)


def band_summary(per_series: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    """Alarms and real alarms per severity band summed over series, and their ratio
    (``band_precision``: None for a band without alarms)."""
    rows = [v for v in per_series.values() if "band_alarms" in v]
    if not rows:
        return {}
    alarms = np.sum([v["band_alarms"] for v in rows], axis=0)
    real = np.sum([v["band_real"] for v in rows], axis=0)
    precision = [float(r / a) if a else None for r, a in zip(real, alarms, strict=True)]
    return {
        "band_alarms": alarms.tolist(),
        "band_real": real.tolist(),
        "band_precision": precision,
    }


def _defined(per_series: dict[str, dict[str, Any]], key: str) -> list[float]:
    """The values of ``key`` over the series that have it as a number other than NaN."""
    vals = [v.get(key) for v in per_series.values()]
    numbers = [x for x in vals if isinstance(x, int | float) and not isinstance(x, bool)]
    return [float(x) for x in numbers if not math.isnan(x)]


@dataclass(frozen=True)
class Job:
    """What each series of a run is evaluated with."""

    detector: str
    params: dict[str, Any]
    quantile: float
    keep_scores: bool
    schedule: ServiceSchedule | None


def _evaluate_or_error(series: LabelledSeries, job: Job) -> dict[str, Any]:
    try:
        return evaluate_series(
            series,
            job.detector,
            job.params,
            quantile=job.quantile,
            keep_scores=job.keep_scores,
            schedule=job.schedule,
        )
    except ValueError as exc:  # e.g. a training prefix shorter than the window
        return {"error": str(exc)}


def _run_one(
    suite: list[LabelledSeries],
    job: Job,
    pool: Executor | None,
    progress: Callable[[str], None] | None,
    scores: dict[str, ScoreArrays] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-series results in suite order, from this process or from ``pool``; with
    ``scores``, each series' arrays are moved there (see ``evaluate_series``)."""
    futures: list[Future[dict[str, Any]] | None] = [None] * len(suite)
    if pool is not None:
        futures = [pool.submit(_evaluate_or_error, s, job) for s in suite]
    per_series: dict[str, dict[str, Any]] = {}
    for s, fut in zip(suite, futures, strict=True):
        per_series[s.name] = _evaluate_or_error(s, job) if fut is None else fut.result()
        if scores is not None and SCORES in per_series[s.name]:
            scores[s.name] = per_series[s.name].pop(SCORES)
        if progress is not None:
            progress(f"{job.detector} {s.name}")
    return per_series


def run_suite(
    suite: list[LabelledSeries],
    runs: Iterable[tuple[str, dict[str, Any]]],
    *,
    quantile: float = 0.995,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
    scores: list[dict[str, ScoreArrays]] | None = None,
    schedule: ServiceSchedule | None = None,
) -> dict[str, Any]:
    """Evaluate every (detector, params) run over every series: the results.json document,
    which also says the ``schedule`` (``{"kind": "prefix"}``, or ``"service"`` with its
    ``train_points`` and ``refit_every``). With ``scores`` (a list), one ``{series: arrays}``
    per run is appended to it (the arrays of ``evaluate_series(keep_scores=True)``).

    ``jobs > 1`` spreads series over that many worker processes (spawned, one thread each);
    the numbers are the same as with ``jobs = 1``.
    """
    out = []
    pool = None
    if jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=one_thread_worker)
    try:
        for detector, params in runs:
            job = Job(detector, params, quantile, scores is not None, schedule)
            kept: dict[str, ScoreArrays] | None = None if scores is None else {}
            per_series = _run_one(suite, job, pool, progress, kept)
            if scores is not None and kept is not None:
                scores.append(kept)
            summary = summarize(per_series)
            run = {"detector": detector, "params": params, "series": per_series}
            out.append({**run, "summary": summary})
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the command line
        _stop_workers(pool)
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return {"runs": out, "schedule": schedule_doc(schedule)}


def _stop_workers(pool: ProcessPoolExecutor | None) -> None:
    """End the worker processes now instead of after the series they are scoring (a stop
    sent to the command alone does not reach them)."""
    if pool is None:
        return
    pool.shutdown(wait=False, cancel_futures=True)
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    _wait_ended(children, seconds=10.0)


def _wait_ended(children: list[multiprocessing.process.BaseProcess], seconds: float) -> None:
    """Wait, at most ``seconds`` in all, until every child is known to have exited. The pool's
    own thread may reap a child first, and the child reads as running until that thread has
    recorded its exit code: ``join`` alone can return before then."""
    deadline = time.monotonic() + seconds
    for child in children:
        child.join(timeout=max(0.0, deadline - time.monotonic()))
        while child.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.01)


def schedule_doc(schedule: ServiceSchedule | None) -> dict[str, Any]:
    """How the measured rows were scored, as results.json says it."""
    if schedule is None:
        return {"kind": "prefix"}
    return {"kind": "service", **asdict(schedule)}


def one_thread_worker() -> None:
    """Worker processes share the cores: one BLAS / torch thread each."""
    import torch

    torch.set_num_threads(1)


def load_reference(folder: str | Path) -> dict[str, dict[str, float]]:
    """Published per-series VUS-PR of other detectors: {detector: {series: vus_pr}}."""
    path = Path(folder) / "reference" / "tsbad_detectors_this_split_dev.csv"
    if not path.exists():
        return {}
    ref: dict[str, dict[str, float]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("status", "ok") == "ok" and row.get("vus_pr"):
                ref.setdefault(row["detector"], {})[row["series"]] = float(row["vus_pr"])
    return ref
