"""What ``anomalyd backfill`` writes: one series' scores (:class:`Scored`) and the output formats.

Every format has the columns ``series, timestamp, value, raw_score, anomaly_score, anomalous``
(OpenMetrics: the ``anomaly_score`` and ``anomaly_raw_score`` families the live service
exports). A point without a score (the warm-up before the first model) has an empty cell in
CSV, a null in Parquet and no sample in OpenMetrics.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load, save

from anomalyd.service.openmetrics import OpenMetricsWriter

FloatArray = npt.NDArray[np.float64]
COLUMNS = ("series", "timestamp", "value", "raw_score", "anomaly_score", "anomalous")
FORMATS = {
    ".csv": "csv",
    ".om": "openmetrics",
    ".openmetrics": "openmetrics",
    ".parquet": "parquet",
}


URL_SCHEMES = ("http://", "https://")
REMOTE_WRITE = "remote-write"
INTO = "anomalyd"  # the points, into a running anomalyd that scores them
URL_FORMATS = (REMOTE_WRITE, INTO)


class OutputFormatError(ValueError):
    """An output format that is not known, or a file name that names none."""


@dataclass(frozen=True)
class Scored:
    """One series as scored: timestamps (s, shape (n,)), values (n, n_channels), raw scores
    and anomaly scores (n,) with NaN where no model scored yet."""

    name: str
    ts: FloatArray
    values: FloatArray
    raw: FloatArray
    score: FloatArray

    @property
    def scored(self) -> int:
        """How many points have an anomaly score."""
        return int(np.isfinite(self.score).sum())

    def to_bytes(self) -> bytes:
        """The arrays as safetensors (float64, exact); the name is kept by the caller."""
        arrays = {"ts": self.ts, "values": self.values, "raw": self.raw, "score": self.score}
        return save({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()})

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Scored:
        """Inverse of :meth:`to_bytes`."""
        a = load(data)
        return cls(name, a["ts"], a["values"], a["raw"], a["score"])

    def rows(self) -> Iterator[list[object]]:
        """The rows of ``COLUMNS``, as CSV writes them (empty cells before the first model)."""
        for t, v, r, s in zip(self.ts, self.values, self.raw, self.score, strict=True):
            yield [
                self.name,
                float(t),
                _value(v),
                _num(r),
                _num(s),
                bool(s > 1.0) if s == s else "",
            ]


def _value(v: FloatArray) -> object:
    return float(v[0]) if len(v) == 1 else json.dumps(v.tolist())


def _num(x: float) -> object:
    return float(x) if np.isfinite(x) else ""


def is_url(output: Path | str) -> bool:
    """Whether ``output`` is a remote-write URL rather than a file."""
    return isinstance(output, str) and output.lower().startswith(URL_SCHEMES)


def output_format(output: Path | str, fmt: str | None) -> str:
    """``fmt`` (``csv``, ``parquet``, ``openmetrics``, ``remote-write`` or ``anomalyd``), or
    the format ``output`` names: an http(s) URL is remote-write (or with ``fmt`` ``anomalyd``
    a running anomalyd's base URL), a file's suffix names the others.
    Raises OutputFormatError for another format, a suffix that names none, or a format that
    does not fit the output."""
    named = REMOTE_WRITE if is_url(output) else FORMATS.get(Path(output).suffix.lower())
    fmt = (fmt or named or "").lower()
    if not fmt:
        raise OutputFormatError(
            f"--output {output}: cannot tell the format from the file name (.csv, .parquet, "
            ".om); pass --format csv, --format parquet or --format openmetrics."
        )
    if fmt not in {*FORMATS.values(), *URL_FORMATS}:
        raise OutputFormatError(
            "--format must be csv, parquet, openmetrics, remote-write or anomalyd. "
            f"Got {fmt!r} instead."
        )
    if (fmt in URL_FORMATS) != is_url(output):
        raise OutputFormatError(
            f"--output {output}: remote-write and anomalyd send to an http(s) URL, the other "
            "formats write a file."
        )
    return fmt


@dataclass(frozen=True)
class Output:
    """Where and how to write: ``fmt`` from :func:`output_format`, the ``detector`` label of
    OpenMetrics and remote-write samples, whether any series has several value columns, and
    for remote-write the receiver's ``url`` (``path`` then only names the job table)."""

    path: Path
    fmt: str
    detector: str
    multichannel: bool = False
    url: str | None = None


def write(out: Output, series: Iterable[Scored]) -> None:
    """Write every series, in order, to ``out.path``. Raises OutputFormatError when Parquet is
    asked for without pyarrow, OSError when the file cannot be written."""
    _WRITERS[out.fmt](out, series)


def _write_csv(out: Output, series: Iterable[Scored]) -> None:
    with out.path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for one in series:
            writer.writerows(one.rows())


def _write_openmetrics(out: Output, series: Iterable[Scored]) -> None:
    with out.path.open("w", encoding="utf-8") as fh:
        writer = OpenMetricsWriter(fh, out.detector)
        for one in series:
            if len(one.ts):
                writer.add(one.name, one.ts, one.raw, one.score)
        writer.finish()


def _write_parquet(out: Output, series: Iterable[Scored]) -> None:
    """One row group per series. ``timestamp`` is a UTC timestamp (microseconds); ``value`` a
    double, or for series of several value columns a JSON list as in CSV; scores and
    ``anomalous`` null before the first model. Needs the ``parquet`` extra (pyarrow)."""
    pa, pq = _pyarrow()
    schema = pa.schema(
        [("series", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
         ("value", pa.string() if out.multichannel else pa.float64()),
         ("raw_score", pa.float64()), ("anomaly_score", pa.float64()),
         ("anomalous", pa.bool_())]
    )  # fmt: skip
    with pq.ParquetWriter(out.path, schema) as writer:
        for one in series:
            writer.write_table(pa.Table.from_pydict(_parquet_columns(one, schema), schema=schema))


def _parquet_columns(one: Scored, schema: Any) -> dict[str, Any]:
    import pyarrow as pa

    missing = ~np.isfinite(one.score)
    micros = np.round(one.ts * 1e6).astype(np.int64)
    values: Any = (
        [json.dumps(v.tolist()) for v in one.values]
        if schema.field("value").type == pa.string()
        else one.values[:, 0]
    )
    return {
        "series": [one.name] * len(one.ts),
        "timestamp": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
        "value": values,
        "raw_score": pa.array(one.raw, mask=~np.isfinite(one.raw)),
        "anomaly_score": pa.array(one.score, mask=missing),
        "anomalous": pa.array(one.score > 1.0, mask=missing),
    }


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise OutputFormatError(
            "writing Parquet needs pyarrow: pip install 'anomalyd[parquet]'."
        ) from exc
    return pa, pq


_WRITERS: dict[str, Callable[[Output, Iterable[Scored]], None]] = {
    "csv": _write_csv,
    "openmetrics": _write_openmetrics,
    "parquet": _write_parquet,
}
