"""Stored evaluation runs: ``anomalyd evaluate --store DATA_DIR`` writes one JSON document per
run into ``DATA_DIR/evaluations/``; the service lists them and builds the dashboard's
leaderboard (detectors x sources) from them.

A document is ``results.json`` (``{"runs": [...]}``, see ``anomalyd.service.evaluation.run_suite``)
plus ``id``, ``created_at`` (Unix seconds), ``suite`` (the folder evaluated), ``sources``
(``{series: source}``), ``train_end`` (``{series: first measured row}``) and ``reference``
(published per-series VUS-PR of other detectors on the same series:
``{detector: {series: vus_pr}}``). Beside it, ``<id>.safetensors`` holds each series'
``values/<series>`` (float64, (n_points, n_channels)), ``labels/<series>`` (uint8) and per run
``i`` its ``raw/<i>/<series>`` (the ranking score: raw, or under the service schedule each
model's ``Calibrator.rank``, NaN on the prefix) and ``anomaly_score/<i>/<series>`` (float64,
(n_points,)): what the dashboard's curves and evaluated-series charts are drawn from.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from anomalyd.service.atomicfile import partial_path

FOLDER = "evaluations"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
METRICS = ("vus_pr", "pate", "false_alarm_rate", "event_recall", "alerts_per_1000", "fit_seconds")
"""Leaderboard columns, each a mean over series (overall and per source)."""
REFERENCE_METRICS = ("vus_pr",)
"""What the published reference rows carry."""
ALL = "all"


class EvaluationNotFoundError(LookupError):
    """No stored evaluation run has this id."""


@dataclass
class Row:
    """One detector's means: ``cells[metric][source or "all"]`` (None where it has none); its
    figures per scored series, and ``errors``: why it could not score the others."""

    detector: str
    params: dict[str, Any]
    reference: bool
    n: int
    cells: dict[str, dict[str, float | None]]
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class EvaluationStore:
    """The ``evaluations`` folder of a data dir: every read and write of it goes through here."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / FOLDER

    def save(
        self,
        doc: dict[str, Any],
        *,
        suite: str,
        sources: dict[str, str],
        reference: dict[str, dict[str, float]],
        train_end: dict[str, int] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> str:
        """Store a run (each file written whole, then renamed into place; the arrays first, so
        a listed run has them); its new id."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        detectors = "+".join(sorted({r["detector"] for r in doc["runs"]}))
        run_id = _unique(
            self.folder,
            f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-"
            f"{re.sub(r'[^A-Za-z0-9_.-]', '_', detectors)[:80]}",
        )
        mine = {d: {s: v for s, v in per.items() if s in sources} for d, per in reference.items()}
        try:
            if arrays is not None:
                _save_arrays(self.folder / f"{run_id}.safetensors", arrays)
        except BaseException:
            (self.folder / f"{run_id}.json").unlink(missing_ok=True)  # the reservation
            raise
        stored = {
            **doc,
            "train_end": train_end or {},
            "id": run_id,
            "created_at": now,
            "suite": suite,
            "sources": sources,
            "reference": {d: per for d, per in mine.items() if per},
        }
        _write_atomic(self.folder / f"{run_id}.json", json.dumps(stored))
        return run_id

    def check_writable(self) -> None:
        """Create the folder if needed and try a file in it. Raises OSError when it cannot be
        written (so a long evaluation is not run for nothing)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".probe-"):
            pass

    def runs(self) -> list[dict[str, Any]]:
        """Every stored run, newest first: ``id``, ``created_at``, ``suite``, ``detectors``,
        ``series`` (how many), ``schedule`` (:func:`schedule_of`). Unreadable files are
        skipped."""
        found = [_read(path) for path in self.folder.glob("*.json")]
        summaries = [_summary(doc) for doc in found if doc is not None]
        return sorted(summaries, key=lambda d: d["created_at"], reverse=True)

    def read(self, run_id: str) -> dict[str, Any]:
        """The stored document. Raises EvaluationNotFoundError for an unknown or malformed id."""
        doc = _read(self.folder / f"{run_id}.json") if RUN_ID.match(run_id) else None
        if doc is None:
            raise EvaluationNotFoundError(
                f"No evaluation run {run_id!r}; GET /v1/evaluations lists them."
            )
        return doc

    def arrays(self, run_id: str, keys: list[str]) -> dict[str, np.ndarray]:
        """The stored arrays named ``keys`` of a run (read its document first: :meth:`read`).
        Raises EvaluationNotFoundError when the run id is malformed or its arrays file or one
        of the keys is missing."""
        if not RUN_ID.match(run_id):
            raise EvaluationNotFoundError(f"No evaluation run {run_id!r}.")
        path = self.folder / f"{run_id}.safetensors"
        try:
            with safe_open(str(path), framework="np") as fh:
                stored = set(fh.keys())
                missing = [k for k in keys if k not in stored]
                if missing:
                    raise EvaluationNotFoundError(f"Run {run_id!r} holds no {missing[0]!r}.")
                return {k: fh.get_tensor(k) for k in keys}
        except FileNotFoundError:
            raise EvaluationNotFoundError(
                f"Run {run_id!r} was stored without scores; evaluate again with --store."
            ) from None
        except (OSError, SafetensorError) as exc:
            raise EvaluationNotFoundError(
                f"Run {run_id!r}: its scores file cannot be read ({exc}); evaluate again with "
                "--store."
            ) from None


def series_arrays(
    series: Iterable[Any], scores: list[dict[str, dict[str, np.ndarray]]]
) -> dict[str, np.ndarray]:
    """The arrays :meth:`EvaluationStore.save` keeps: values and labels of each
    ``LabelledSeries``, and each run's scores (``run_suite(scores=...)``)."""
    out: dict[str, np.ndarray] = {}
    for s in series:
        out[f"values/{s.name}"] = np.ascontiguousarray(s.values, dtype=np.float64)
        out[f"labels/{s.name}"] = np.ascontiguousarray(s.labels, dtype=np.uint8)
    for i, per_series in enumerate(scores):
        for name, kept in per_series.items():
            for kind, array in kept.items():
                out[f"{kind}/{i}/{name}"] = np.ascontiguousarray(array, dtype=np.float64)
    return out


def leaderboard(doc: dict[str, Any]) -> tuple[list[str], list[Row]]:
    """(sources, rows): our runs, then the reference detectors, each with the mean of every
    metric overall and per source over the series it scored."""
    sources: dict[str, str] = doc["sources"]
    names = sorted(set(sources.values()))
    rows = [_our_row(run, sources, names) for run in doc["runs"]]
    for detector, per in sorted(doc.get("reference", {}).items()):
        values = {s: {"vus_pr": v} for s, v in per.items()}
        cells = _cells(values, sources, names, REFERENCE_METRICS)
        rows.append(Row(f"{detector} (TSB-AD)", {}, True, len(values), cells))
    return names, rows


def _our_row(run: dict[str, Any], sources: dict[str, str], names: list[str]) -> Row:
    scored = {s: v for s, v in run["series"].items() if "vus_pr" in v}
    errors = {s: str(v["error"]) for s, v in run["series"].items() if "error" in v}
    cells = _cells(scored, sources, names, METRICS)
    n = sum(_finite(v.get("vus_pr")) for v in scored.values())
    return Row(run["detector"], run.get("params", {}), False, n, cells, scored, errors)


def _cells(
    per_series: dict[str, dict[str, Any]],
    sources: dict[str, str],
    names: list[str],
    metrics: tuple[str, ...],
) -> dict[str, dict[str, float | None]]:
    groups = {
        ALL: list(per_series),
        **{n: [s for s in per_series if sources.get(s) == n] for n in names},
    }
    return {
        m: {g: _mean(per_series[s].get(m) for s in members) for g, members in groups.items()}
        for m in metrics
    }


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _mean(values: Iterable[Any]) -> float | None:
    finite = [float(v) for v in values if _finite(v)]
    return sum(finite) / len(finite) if finite else None


def _read(path: Path) -> dict[str, Any] | None:
    """A stored run's document; None when the file is missing, empty (being written) or is not
    one (see :func:`_well_formed`)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return dict(doc) if _well_formed(doc) else None


def _well_formed(doc: Any) -> bool:
    """The fields the service reads, with their types (a stray or edited file is skipped)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        return False
    kinds = {"id": str, "created_at": int | float, "suite": str, "sources": dict}
    if not all(isinstance(doc.get(k), t) for k, t in kinds.items()):
        return False
    return all(
        isinstance(r, dict)
        and isinstance(r.get("detector"), str)
        and isinstance(r.get("series"), dict)
        for r in doc["runs"]
    )


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "created_at": doc["created_at"],
        "suite": doc["suite"],
        "detectors": [r["detector"] for r in doc["runs"]],
        "series": len(doc["sources"]),
        "schedule": schedule_of(doc),
    }


def schedule_of(doc: dict[str, Any]) -> dict[str, Any]:
    """How a stored run scored its series: ``{"kind": "prefix"}``, or ``"service"`` with its
    ``train_points`` and ``refit_every`` (a document stored before schedules: prefix)."""
    sched = doc.get("schedule")
    if not isinstance(sched, dict) or sched.get("kind") != "service":
        return {"kind": "prefix"}
    sizes = {k: sched.get(k) for k in ("train_points", "refit_every")}
    return {"kind": "service"} | {k: v if type(v) is int else None for k, v in sizes.items()}


def _unique(folder: Path, stem: str) -> str:
    """A new id, reserved by creating its (empty, so unlisted) document file exclusively: two
    runs stored at once never get the same id."""
    candidate, k = stem, 1
    while True:
        try:
            os.close(os.open(folder / f"{candidate}.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return candidate
        except FileExistsError:
            k += 1
            candidate = f"{stem}-{k}"


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with partial_path(path) as tmp:
        save_file(arrays, str(tmp))


def _write_atomic(path: Path, text: str) -> None:
    with partial_path(path) as tmp:
        tmp.write_text(text)
