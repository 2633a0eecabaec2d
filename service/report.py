"""The evaluation table: our detectors beside the suite's published reference numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from anomalyd.metrics.alerts import SEVERITY_EDGES
from anomalyd.service.suite import LabelledSeries

COLUMNS = ("vus_pr", "vus_roc", "pate", "pate_f1", "auc_pr", "auc_roc", "best_f1")
ALERT_COLUMNS = {  # key: (header, format of the mean)
    "false_alarm_rate": ("false alarms", "{:.2%}"),
    "event_recall": ("event recall", "{:.3f}"),
    "alerts_per_1000": ("alerts/1k", "{:.2f}"),
}
MAX_NAMED = 20
"""A warning names at most this many series (results.json has them all)."""


BAND_LABELS = tuple(
    f"({lo:g}, {hi:g}]" for lo, hi in zip(SEVERITY_EDGES, SEVERITY_EDGES[1:], strict=False)
) + (f"> {SEVERITY_EDGES[-1]:g}",)


def _mean(values: list[float], fmt: str = "{:.3f}") -> str:
    """Mean of the values that are not NaN (a metric undefined on a series), or "-"."""
    defined = [v for v in values if not math.isnan(v)]
    return fmt.format(np.mean(defined)) if defined else "-"


def _by_source(
    scores: dict[str, float], sources: dict[str, str], names: list[str]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {src: [] for src in names}
    for series, val in scores.items():
        if series in sources:
            out[sources[series]].append(val)
    return out


def _schedule(doc: dict[str, Any]) -> str:
    """How the rows were scored, in the table's title."""
    sched = doc.get("schedule", {})
    if sched.get("kind") != "service":
        return "one model fitted on the training prefix"
    every = sched["refit_every"]
    refit = f"refitted every {every} points" if every else "not refitted once the span is full"
    return f"the service's schedule: models on the last {sched['train_points']} points, {refit}"


def print_table(
    console: Console,
    doc: dict[str, Any],
    suite: list[LabelledSeries],
    reference: dict[str, dict[str, float]],
) -> None:
    """One row per detector (ours, then reference ones on the same series)."""
    sources = {s.name: s.source for s in suite}
    src_names = sorted(set(sources.values()))
    table = Table(title=f"mean over series (rows \\[train_end:]; {_schedule(doc)})")
    alert_headers = [header for header, _ in ALERT_COLUMNS.values()]
    per_src_headers = [f"VUS-PR {escape(s)}" for s in src_names]  # names are the user's
    for col in ("detector", "n", *COLUMNS, *alert_headers, *per_src_headers, "fit s"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for run in doc["runs"]:
        ok = {k: v for k, v in run["series"].items() if "vus_pr" in v}
        cells = [_mean([v[c] for v in ok.values()]) for c in COLUMNS]
        alert_cells = [
            _mean([v[c] for v in ok.values() if c in v], fmt)
            for c, (_, fmt) in ALERT_COLUMNS.items()
        ]
        per_src = _by_source({k: v["vus_pr"] for k, v in ok.items()}, sources, src_names)
        fit = _mean([v["fit_seconds"] for v in ok.values()])
        row = [run["detector"], str(len(ok)), *cells, *alert_cells]
        table.add_row(*row, *map(_mean, per_src.values()), fit)
    for name, scores in sorted(reference.items()):
        mine = {k: v for k, v in scores.items() if k in sources}
        if not mine:
            continue
        per_src = _by_source(mine, sources, src_names)
        blanks = ["-"] * (len(COLUMNS) - 1 + len(ALERT_COLUMNS))
        row = [f"{name} (TSB-AD)", str(len(mine)), _mean(list(mine.values())), *blanks]
        table.add_row(*row, *map(_mean, per_src.values()), "-")
    console.print(table)
    if reference and doc.get("schedule", {}).get("kind") == "service":
        console.print("TSB-AD rows: their published figures, one model per series (no refits).")
    print_bands(console, doc)
    print_dead_models(console, doc)


def print_bands(console: Console, doc: dict[str, Any]) -> None:
    """Per detector: precision of its alarms in each severity band (pooled over series)."""
    for run in doc["runs"]:
        summary = run.get("summary", {})
        if "band_alarms" not in summary:
            continue
        parts = [
            f"{label} {'-' if p is None else f'{p:.0%}'} of {n:,}"
            for label, p, n in zip(
                BAND_LABELS, summary["band_precision"], summary["band_alarms"], strict=True
            )
        ]
        console.print(
            f"{escape(run['detector'])}: alarms on or near a label, per anomaly_score band: "
            + ", ".join(parts)
        )


def print_dead_models(console: Console, doc: dict[str, Any]) -> None:
    """One warning line per detector that gave constant scores on some series."""
    for run in doc["runs"]:
        dead = [k for k, v in run["series"].items() if v.get("constant_scores") is True]
        if not dead:
            continue
        names = ", ".join(dead[:MAX_NAMED])
        more = f" and {len(dead) - MAX_NAMED} more" if len(dead) > MAX_NAMED else ""
        console.print(
            f"[bold yellow]warning:[/] {escape(run['detector'])} gave constant scores (a dead "
            f"model) on {len(dead)} series: {escape(names)}{more}. PATE gives a constant about "
            "0.5 (AUC-ROC 0.5), so a dead model looks average in the means above."
        )
