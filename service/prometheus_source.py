"""Series read from Prometheus for ``anomalyd backfill --prometheus``: one per labelset a
PromQL range query returns, read through ``/api/v1/query_range`` in chunks.

Prometheus answers at most 11,000 points per series per query, so the range is cut into chunks
of at most that many steps. Chunk edges sit on the step grid (``start + k * step``) and each
chunk starts one step after the last one ended, so no point is asked twice or skipped. A chunk
that fails for a transient reason (connection error, timeout, 5xx, 429) is retried with
exponential backoff; an answer that says the query itself is wrong (4xx) stops at once with
Prometheus' own message.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more points per series than this."""


class PrometheusSourceError(ValueError):
    """The query cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class RangeQuery:
    """``query`` over ``start``..``end`` (Unix seconds, inclusive) every ``step`` seconds."""

    url: str
    query: str
    start: float
    end: float
    step: float


@dataclass(frozen=True)
class Fetched:
    """One labelset's points: ``name`` (``metric{label="v",...}``), timestamps of shape (n,)
    in seconds, values of shape (n, 1)."""

    name: str
    ts: np.ndarray
    values: np.ndarray


def chunks(
    start: float, end: float, step: float, most: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """``(first, last)`` evaluation times of each chunk: every ``start + k * step`` up to
    ``end`` once, at most ``most`` per chunk. Raises PrometheusSourceError for an empty range
    or a step that is not positive."""
    if not step > 0 or not math.isfinite(step):
        raise PrometheusSourceError(f"--step must be a positive duration. Got {step!r} instead.")
    if end < start:
        raise PrometheusSourceError("--end must not be before --start.")
    n = int(math.floor((end - start) / step + 1e-9)) + 1
    return [(start + k * step, start + (min(k + most, n) - 1) * step) for k in range(0, n, most)]


def fetch(q: RangeQuery, *, retries: int = 4, backoff: float = 0.5) -> list[Fetched]:
    """Every labelset ``q`` returns, its points in time order, in order of first appearance.
    Raises PrometheusSourceError."""
    found: dict[str, list[tuple[float, float]]] = {}
    try:
        with httpx.Client(timeout=60) as http:
            for first, last in chunks(q.start, q.end, q.step):
                for name, points in _chunk(http, q, first, last, retries, backoff):
                    found.setdefault(name, []).extend(points)
    except PrometheusSourceError:
        raise
    except httpx.InvalidURL as exc:
        raise PrometheusSourceError(f"--prometheus {q.url!r} is not a URL: {exc}.") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise PrometheusSourceError(
            f"Prometheus answered a shape this cannot read ({exc!r}); only float samples are "
            "read (native histograms are not)."
        ) from exc
    return [_series(name, points) for name, points in found.items()]


def _chunk(
    http: httpx.Client, q: RangeQuery, first: float, last: float, retries: int, backoff: float
) -> list[tuple[str, list[tuple[float, float]]]]:
    params = {"query": q.query, "start": repr(first), "end": repr(last), "step": repr(q.step)}
    body = _get(http, f"{q.url.rstrip('/')}/api/v1/query_range", params, retries, backoff)
    data = body.get("data", {})
    if data.get("resultType") != "matrix":
        raise PrometheusSourceError(
            f"--query must return a range vector (matrix); got {data.get('resultType')!r}."
        )
    return [
        (_name(r["metric"]), [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]
    ]


def _get(
    http: httpx.Client, url: str, params: dict[str, str], retries: int, backoff: float
) -> dict[str, Any]:
    """The JSON answer; transient failures retried ``retries`` times, waiting ``backoff``
    seconds and doubling."""
    for attempt in range(retries + 1):
        try:
            r = http.get(url, params=params)
        except httpx.TransportError as exc:
            problem = f"cannot reach {url}: {exc}"
        else:
            if r.status_code < 500 and r.status_code != 429:
                return _answer(r, url)
            problem = f"{url} answered {r.status_code}"
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    raise PrometheusSourceError(f"Prometheus: {problem} (after {retries} retries).")


def _answer(r: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body: dict[str, Any] = r.json()
    except ValueError:
        raise PrometheusSourceError(f"{url} answered {r.status_code} without JSON.") from None
    if r.status_code >= 400 or body.get("status") != "success":
        raise PrometheusSourceError(f"Prometheus refused the query: {body.get('error', r.text)}")
    return body


def _name(metric: dict[str, str]) -> str:
    """``__name__{a="1",b="2"}`` (labels sorted), as PromQL writes a selector."""
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{metric.get('__name__', '')}{{{labels}}}"


def _series(name: str, points: list[tuple[float, float]]) -> Fetched:
    points.sort()
    ts = np.array([t for t, _ in points], dtype=np.float64)
    values = np.array([[v] for _, v in points], dtype=np.float64).reshape(len(points), 1)
    return Fetched(name, ts, values)
