"""Backfilled scores as OpenMetrics text, for ``promtool tsdb create-blocks-from openmetrics``.

Two gauge families with the names and labels the live service gives them (``anomaly_score``
and ``anomaly_raw_score``, labels ``series`` and ``detector``), so backfilled history lines up
with what Prometheus scrapes later. The format forbids interleaving families, so
``anomaly_score`` samples go to the output as series arrive and ``anomaly_raw_score`` samples
to a side file appended at the end; each series' samples are contiguous and in time order,
timestamps are in seconds, a point without a score (warm-up) has no sample, and one ``# EOF``
ends the file (https://prometheus.io/docs/specs/om/open_metrics_spec/).
"""

from __future__ import annotations

import tempfile
from typing import IO

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
SCORE_HELP = "Calibrated anomaly score; > 1 alerts, exactly 1 is the echo of an alert."
RAW_HELP = "Raw detector score (higher = more anomalous)."


def label_value(text: str) -> str:
    """``text`` escaped for a quoted label value (backslash, double quote, newline)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def samples(name: str, labels: str, ts: FloatArray, values: FloatArray) -> str:
    """The sample lines of one series (``ts`` in seconds, shape (n,)); NaN values skipped."""
    keep = np.isfinite(values)
    return "".join(
        f"{name}{{{labels}}} {float(v)!r} {float(t)!r}\n"
        for t, v in zip(ts[keep], values[keep], strict=True)
    )


class OpenMetricsWriter:
    """Writes series one after another into ``fh`` (text, opened by the caller); call
    :meth:`finish` once, after the last series."""

    def __init__(self, fh: IO[str], detector: str) -> None:
        self._fh = fh
        self._detector = detector
        self._raw = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in finish
        self._fh.write(f"# TYPE anomaly_score gauge\n# HELP anomaly_score {SCORE_HELP}\n")

    def add(self, series: str, ts: FloatArray, raw: FloatArray, score: FloatArray) -> None:
        """One series' points: timestamps (s), raw scores and anomaly scores, shape (n,)."""
        labels = f'series="{label_value(series)}",detector="{label_value(self._detector)}"'
        self._fh.write(samples("anomaly_score", labels, ts, score))
        self._raw.write(samples("anomaly_raw_score", labels, ts, raw))

    def finish(self) -> None:
        """Append the raw-score family and ``# EOF``."""
        self._fh.write(f"# TYPE anomaly_raw_score gauge\n# HELP anomaly_raw_score {RAW_HELP}\n")
        self._raw.seek(0)
        for chunk in iter(lambda: self._raw.read(1 << 20), ""):
            self._fh.write(chunk)
        self._raw.close()
        self._fh.write("# EOF\n")
