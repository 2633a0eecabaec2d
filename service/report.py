"""The evaluation table: our detectors beside the suite's published reference numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from service.suite import LabelledSeries

COLUMNS = ("vus_pr", "vus_roc", "pate", "pate_f1", "auc_pr", "auc_roc", "best_f1")


def _mean(values: list[float]) -> str:
    return f"{np.mean(values):.3f}" if values else "-"


def _by_source(
    scores: dict[str, float], sources: dict[str, str], names: list[str]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {src: [] for src in names}
    for series, val in scores.items():
        if series in sources:
            out[sources[series]].append(val)
    return out


def print_table(
    console: Console,
    doc: dict[str, Any],
    suite: list[LabelledSeries],
    reference: dict[str, dict[str, float]],
) -> None:
    """One row per detector (ours, then reference ones on the same series)."""
    sources = {s.name: s.source for s in suite}
    src_names = sorted(set(sources.values()))
    table = Table(title="mean over series (rows \\[train_end:])")
    for col in ("detector", "n", *COLUMNS, *(f"VUS-PR {s}" for s in src_names), "fit s"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for run in doc["runs"]:
        ok = {k: v for k, v in run["series"].items() if "vus_pr" in v}
        cells = [_mean([v[c] for v in ok.values()]) for c in COLUMNS]
        per_src = _by_source({k: v["vus_pr"] for k, v in ok.items()}, sources, src_names)
        fit = _mean([v["fit_seconds"] for v in ok.values()])
        table.add_row(run["detector"], str(len(ok)), *cells, *map(_mean, per_src.values()), fit)
    for name, scores in sorted(reference.items()):
        mine = {k: v for k, v in scores.items() if k in sources}
        if not mine:
            continue
        per_src = _by_source(mine, sources, src_names)
        blanks = ["-"] * (len(COLUMNS) - 1)
        row = [f"{name} (TSB-AD)", str(len(mine)), _mean(list(mine.values())), *blanks]
        table.add_row(*row, *map(_mean, per_src.values()), "-")
    console.print(table)
