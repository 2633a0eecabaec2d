"""Reading labelled suites: the benchmark format (manifest.json + CSVs) or a folder of CSVs."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: a CSV file's data rows, as ``csv.reader`` gives them
Rows = list[list[str]]


@dataclass(frozen=True)
class LabelledSeries:
    """One labelled series: values (n, c), labels (n,), and the end of its training prefix."""

    name: str
    source: str
    values: np.ndarray
    labels: np.ndarray
    train_end: int


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Values (n_rows, n_channels) and 0/1 labels (n_rows,) of one suite file. Raises
    ValueError naming the file for what it cannot read."""
    try:
        return _parse_csv(path)
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _parse_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r]  # blank lines hold no row
    if not rows:
        raise ValueError("the file is empty; it needs a header and rows.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    _check_layout(header, body)
    lab = header.index("label")
    cols = [i for i, h in enumerate(header) if i != lab and h != "timestamp"]
    data = np.array([[_number(r[i]) for i in cols] for r in body]).reshape(len(body), len(cols))
    _check_values(data, body, [header[i] for i in cols], cols)
    return data, _labels([r[lab] for r in body])


def _check_layout(header: list[str], body: Rows) -> None:
    """Raise ValueError for a file without a `label` column, a value column or data rows, or
    with a row of another length than the header."""
    if "label" not in header:
        raise ValueError("no `label` column; add one with 0/1 per row.")
    if not set(header) - {"label", "timestamp"}:
        raise ValueError("no value column: every column besides `label` and `timestamp` is one.")
    if not body:
        raise ValueError("the file has a header but no data rows.")
    odd = [i for i, r in enumerate(body) if len(r) != len(header)]
    if odd:
        raise ValueError(
            f"data row {odd[0] + 1} has {len(body[odd[0]])} cells, the header "
            f"{len(header)}; {len(odd)} row(s) differ. Every row needs one cell per column."
        )


def _number(cell: str) -> float:
    """The cell as a float; NaN for what is not a number (the caller reports it)."""
    if "_" in cell:  # float() reads "1_000" as 1000
        return np.nan
    try:
        return float(cell)
    except ValueError:
        return np.nan


def _check_values(data: np.ndarray, body: Rows, names: list[str], cols: list[int]) -> None:
    """Raise ValueError naming a value column without numbers, else the first cell of ``data``
    that is not a finite number."""
    bad = ~np.isfinite(data)
    if not bad.any():
        return
    if bad.all(axis=0).any():
        name = names[int(np.flatnonzero(bad.all(axis=0))[0])]
        raise ValueError(
            f"column `{name}` holds no numbers; every column besides `label` and `timestamp` is "
            "a value column: name a time column `timestamp`, or drop the column."
        )
    row, col = (int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"data row {row + 1}, column `{names[col]}`: {body[row][cols[col]]!r} is not a finite "
        f"number ({int(bad.any(axis=1).sum())} row(s) have such a value). The metrics need every "
        "value: drop or fill those rows first, as TSB-AD does."
    )


def _labels(cells: list[str]) -> np.ndarray:
    """The ``label`` cells as 0/1, shape (n_rows,). Raises ValueError naming the first other."""
    labels = np.array([_number(c) for c in cells])
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if len(bad):
        raise ValueError(
            f"data row {bad[0] + 1}: the label {cells[bad[0]]!r} is not 0 or 1 ({len(bad)} "
            "row(s) have such a label). Mark anomalous rows 1 and the others 0."
        )
    return labels.astype(np.int64)


def load_suite(
    folder: str | Path, *, train_fraction: float | None = None, univariate_only: bool = False
) -> list[LabelledSeries]:
    """Load every series of a suite, in manifest order (or file-name order); with
    ``univariate_only``, only those of one channel.

    Raises ValueError when ``folder`` is not a folder, has no manifest and no ``train_fraction``
    is given, or holds no CSV file; OSError or ValueError from a file that cannot be read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder (a benchmark with manifest.json, or CSV files).")
    manifest = root / "manifest.json"
    if manifest.exists():
        try:
            return _from_manifest(root, json.loads(manifest.read_text()), univariate_only)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{manifest}: not a suite manifest ({exc!r}).") from exc
    if train_fraction is None or not 0.0 < train_fraction < 1.0:
        raise ValueError(
            f"{root} has no manifest.json: pass `--train-fraction` in (0, 1) to say how much of "
            "each CSV is the training prefix."
        )
    files = sorted(root.glob("*.csv"))
    if not files:
        raise ValueError(f"{root} has neither manifest.json nor CSV files.")
    out = []
    for f in files:
        values, labels = _read_csv(f)
        if univariate_only and values.shape[1] != 1:
            continue
        out.append(
            LabelledSeries(f.stem, root.name, values, labels, int(train_fraction * len(labels)))
        )
    return out


def _from_manifest(root: Path, doc: dict[str, Any], univariate_only: bool) -> list[LabelledSeries]:
    """The series a manifest lists (``series``: name, source, file, train_end, n_channels)."""
    out = []
    for e in doc["series"]:
        if univariate_only and e.get("n_channels", 1) != 1:
            continue
        values, labels = _read_csv(root / e["file"])
        out.append(LabelledSeries(e["name"], e["source"], values, labels, int(e["train_end"])))
    return out
