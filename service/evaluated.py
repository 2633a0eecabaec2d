"""An evaluated series as the dashboard draws it: values, labelled spans and each chosen
detector's ``anomaly_score`` over a range of rows (thinned as live charts are), and the curves
behind its AUC-PR and VUS-PR. Read from a run stored by ``anomalyd evaluate --store``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anomalyd.metrics.vus import event_bounds
from anomalyd.service.chart import AlertRun, alert_runs, thin
from anomalyd.service.curves import Curves, curves
from anomalyd.service.evaluations import EvaluationNotFoundError, EvaluationStore


@dataclass(frozen=True)
class EvaluatedChart:
    """Rows ``x`` (point indices, thinned) of one series; ``values`` one list per channel;
    ``label_spans`` the labelled anomalies ``[first, last]`` (inclusive, every one in range);
    per detector its thinned ``scores`` and ``alerts`` (runs of anomaly_score > 1, at full
    resolution, their start/end being row indices) and its ``figures`` from the run; ``errors``
    says why a detector has no scores (it could not score the series)."""

    source: str
    train_end: int
    total: int
    x: list[int]
    values: list[list[float | None]]
    label_spans: list[list[int]]
    scores: dict[str, list[float | None]]
    alerts: dict[str, list[AlertRun]]
    figures: dict[str, dict[str, Any]]
    errors: dict[str, str]


def run_index(doc: dict[str, Any], detector: str) -> int:
    """Index of the first run of ``detector`` in a stored document.
    Raises EvaluationNotFoundError naming the run's detectors."""
    names = [r["detector"] for r in doc["runs"]]
    if detector not in names:
        raise EvaluationNotFoundError(
            f"Run {doc['id']!r} has no detector {detector!r}; it has {', '.join(names)}."
        )
    return names.index(detector)


def _check_series(doc: dict[str, Any], series: str) -> None:
    if series not in doc["sources"]:
        raise EvaluationNotFoundError(f"Run {doc['id']!r} has no series {series!r}.")


def chart(
    store: EvaluationStore,
    run_id: str,
    series: str,
    detectors: list[str],
    rows: tuple[int | None, int | None],
    n_out: int,
) -> EvaluatedChart:
    """The chart of rows ``rows[0] <= i <= rows[1]`` (None: open) of ``series``; a detector
    that could not score the series gets its error instead of scores."""
    doc = store.read(run_id)
    _check_series(doc, series)
    figures, errors, scored = _split(doc, series, detectors)
    keys = [f"values/{series}", f"labels/{series}"]
    arrays = store.arrays(run_id, keys + [f"anomaly_score/{i}/{series}" for i in scored.values()])
    values, labels = arrays[keys[0]].astype(np.float64), arrays[keys[1]]
    lo, hi = _clip(rows, len(labels))
    scores = {d: arrays[f"anomaly_score/{i}/{series}"][lo : hi + 1] for d, i in scored.items()}
    x = np.arange(lo, hi + 1, dtype=np.float64)
    picked = thin(x, [*values[lo : hi + 1].T, *scores.values()], n_out)
    return EvaluatedChart(
        source=doc["sources"][series],
        train_end=int(doc.get("train_end", {}).get(series, 0)),
        total=len(x),
        x=(lo + picked).tolist(),
        values=[_json(values[lo : hi + 1, c][picked]) for c in range(values.shape[1])],
        label_spans=_spans(labels, lo, hi),
        scores={d: _json(s[picked]) for d, s in scores.items()},
        alerts={d: alert_runs(x, s) for d, s in scores.items()},
        figures=figures,
        errors=errors,
    )


def series_curves(
    store: EvaluationStore, run_id: str, series: str, detectors: list[str]
) -> tuple[dict[str, Curves], dict[str, str]]:
    """Per detector, the curves of the measured rows (see ``anomalyd.service.curves``), and the
    errors of those that could not score the series. Raises EvaluationNotFoundError as
    :func:`chart`, and ValueError for single-class labels."""
    doc = store.read(run_id)
    _check_series(doc, series)
    figures, errors, scored = _split(doc, series, detectors)
    keys = [f"labels/{series}"] + [f"raw/{i}/{series}" for i in scored.values()]
    arrays = store.arrays(run_id, keys)
    start = int(doc.get("train_end", {}).get(series, 0))
    labels = arrays[keys[0]][start:].astype(np.int64)
    out = {
        d: curves(labels, arrays[f"raw/{i}/{series}"][start:], int(figures[d]["window"]))
        for d, i in scored.items()
    }
    return out, errors


def _split(
    doc: dict[str, Any], series: str, detectors: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, int]]:
    """(figures per detector, errors of those that failed, run index of those that scored)."""
    runs = {d: run_index(doc, d) for d in detectors}
    figures = {d: doc["runs"][i]["series"].get(series, {}) for d, i in runs.items()}
    errors = {d: str(f["error"]) for d, f in figures.items() if "error" in f}
    return figures, errors, {d: i for d, i in runs.items() if d not in errors}


def _clip(rows: tuple[int | None, int | None], n: int) -> tuple[int, int]:
    """First and last row of the range (last < first: none), within ``0..n - 1``."""
    lo = 0 if rows[0] is None else max(rows[0], 0)
    hi = n - 1 if rows[1] is None else min(rows[1], n - 1)
    return lo, hi


def _spans(labels: npt.NDArray[np.uint8], lo: int, hi: int) -> list[list[int]]:
    starts, ends = event_bounds(labels.astype(np.int64))
    return [[int(s), int(e)] for s, e in zip(starts, ends, strict=True) if e >= lo and s <= hi]


def _json(x: npt.NDArray[np.floating[Any]]) -> list[float | None]:
    return [None if v != v else float(v) for v in x.tolist()]
