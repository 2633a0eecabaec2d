"""Backfilled scores sent by Prometheus remote-write 1.0 (``anomalyd backfill --output URL``).

Each series becomes the two gauges the live service exports, ``anomaly_score`` and
``anomaly_raw_score`` with labels ``series`` and ``detector``, as snappy-compressed
``WriteRequest`` protobufs (the generated bindings in ``anomalyd.service.prompb``) of at most
``batch`` samples, in time order (https://prometheus.io/docs/specs/prw/remote_write_spec/).
A 5xx or 429 answer is retried with exponential backoff; any other refusal stops the run with
the receiver's message.

History is older than what a Prometheus accepts by default: its receiver must be enabled
(``--web.enable-remote-write-receiver``) and its out-of-order window must reach back to the
oldest point sent (``storage: tsdb: out_of_order_time_window: 30d`` in its configuration
file, for 30 days of history). Sending the same samples twice is harmless (equal samples are
not stored twice), which is what ``--resume`` relies on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import cramjam
import httpx
import numpy as np

from anomalyd.service.backfill_output import Scored
from anomalyd.service.prompb import remote_write_v1_pb2 as pb

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": "anomalyd-backfill",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
RETRIED = frozenset({429, 500, 502, 503, 504})


class RemoteWriteError(ValueError):
    """The receiver refused samples or could not be reached; the message says which."""


def requests(series: Scored, detector: str, batch: int) -> Iterator[bytes]:
    """The compressed request bodies of one series (``batch`` samples per gauge at most)."""
    for name, values in (("anomaly_score", series.score), ("anomaly_raw_score", series.raw)):
        keep = np.isfinite(values)
        ms = np.round(series.ts[keep] * 1000).astype(np.int64)
        kept = values[keep]
        for start in range(0, len(ms), batch):
            req = pb.WriteRequest()
            ts = req.timeseries.add()
            for key, value in (("__name__", name), ("detector", detector), ("series", series.name)):
                ts.labels.add(name=key, value=value)  # sorted by name, as the spec asks
            for t, v in zip(ms[start : start + batch], kept[start : start + batch], strict=True):
                ts.samples.add(value=float(v), timestamp=int(t))
            yield bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def send(
    url: str,
    detector: str,
    series: Iterable[Scored],
    *,
    batch: int = 10_000,
    retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST every series' samples to ``url``. Raises RemoteWriteError."""
    with httpx.Client(timeout=30.0, headers=HEADERS) as client:
        for one in series:
            for body in requests(one, detector, batch):
                _post(client, url, body, one.name, retries, sleep)


def _post(
    client: httpx.Client,
    url: str,
    body: bytes,
    name: str,
    retries: int,
    sleep: Callable[[float], None],
) -> None:
    for attempt in range(retries + 1):
        try:
            answer = client.post(url, content=body)
        except httpx.HTTPError as exc:
            if attempt == retries:
                raise RemoteWriteError(f"cannot send to {url}: {exc}") from exc
        else:
            if answer.is_success:
                return
            if answer.status_code not in RETRIED or attempt == retries:
                raise RemoteWriteError(_refusal(url, name, answer))
        sleep(min(2.0**attempt, 30.0))


def _refusal(url: str, name: str, answer: httpx.Response) -> str:
    hint = ""
    if any(w in answer.text for w in ("out of bounds", "too old", "out of order")):
        hint = (
            " The receiver's out-of-order window must reach back to the oldest point "
            "(Prometheus: storage.tsdb.out_of_order_time_window)."
        )
    return (
        f"{url} refused the scores of series {name!r}: {answer.status_code} "
        f"{answer.text.strip()[:300]}.{hint}"
    )
