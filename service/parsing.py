"""Turn validated JSON into arrays, with messages that say what to fix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from anomalyd.service.faults import InvalidInput, TooLarge

SERIES_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$")
REMOTE_WRITE_PREFIX, REMOTE_WRITE_DIGITS = "rw-", 20
REMOTE_WRITE_ID = re.compile(rf"^{REMOTE_WRITE_PREFIX}[0-9a-f]{{{REMOTE_WRITE_DIGITS}}}$")
"""The ids the remote-write receiver gives its series (``rw-`` + 20 hex digits of a hash of
the labels): only remote-write creates such a series or adds points to it."""
MAX_UNIX_SECONDS = 1e11
"""Later than year 5000: such a timestamp is almost surely in milliseconds."""
MAX_ABS_VALUE = 1e300
"""Largest magnitude of a value the service takes: detectors square deviations, and the
medians and differences of values near the float limit (1.8e308) overflow."""


def seconds_text(ts: float) -> str:
    """Unix seconds as text to the microsecond, without trailing zeros (``1700000000.25``)."""
    return f"{float(ts):.6f}".rstrip("0").rstrip(".")


def check_series_id(series_id: str) -> str:
    """Refuse ids that are not 1-200 of ``A-Z a-z 0-9 _ . : -`` (starting alphanumeric)."""
    if not SERIES_ID.match(series_id):
        long = len(series_id) > 200  # too long: cut; else shown whole, the bad character in it
        shown = f"{series_id[:40]!r}... " if long else repr(series_id)
        size = f"({len(series_id)} characters) " if long else " "
        raise InvalidInput(
            f"Series id {shown}{size}is not valid: use 1-200 characters from A-Z a-z 0-9 "
            "_ . : - starting with a letter or digit."
        )
    return series_id


def check_not_remote_write_id(series_id: str) -> None:
    """Refuse ``series_id`` for a series created or fed from anywhere but remote-write when it
    has the form of ``REMOTE_WRITE_ID``: it would take the id a labelset hashes to, or its
    points would interleave with Prometheus' samples."""
    if REMOTE_WRITE_ID.match(series_id):
        raise InvalidInput(
            f"Series id {series_id!r} has the form of a remote-write series id ('rw-' and 20 "
            "hex digits, a hash of Prometheus labels): only remote-write creates such a series "
            "or adds points to it. Use another id; an existing one can still be read, "
            "reconfigured with PUT and deleted."
        )


def parse_time(value: float | str, where: str, *, assume_utc: bool = False) -> float:
    """Unix seconds from a number or an RFC 3339 string with an offset (or, with
    ``assume_utc``, without one: then it is UTC)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise InvalidInput(
                f"{where}: {value!r} is neither a number (unix seconds) nor an RFC 3339 time "
                "like 2024-05-01T12:00:00Z."
            ) from None
        if parsed.tzinfo is None and assume_utc:
            parsed = parsed.replace(tzinfo=UTC)
        if parsed.tzinfo is None:
            raise InvalidInput(
                f"{where}: {value!r} has no UTC offset; add one, e.g. {value}Z or {value}+00:00."
            )
        seconds = parsed.timestamp()
    else:
        seconds = float(value)
    if not 0 <= seconds < MAX_UNIX_SECONDS:
        in_ms = MAX_UNIX_SECONDS <= seconds < MAX_UNIX_SECONDS * 1000
        hint = " It looks like milliseconds; send seconds." if in_ms else ""
        raise InvalidInput(f"{where}: {value!r} is outside 0 .. 1e11 unix seconds.{hint}")
    return seconds


def parse_query_time(value: str | None, where: str) -> float | None:
    """A query parameter's time: Unix seconds or RFC 3339 (:func:`parse_time`); None if absent."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return parse_time(value, where)
    return parse_time(number, where)


def parse_timestamps(
    raw: Sequence[float | str], name: str = "timestamps", *, assume_utc: bool = False
) -> npt.NDArray[np.float64]:
    """Strictly increasing unix seconds (``assume_utc``: as :func:`parse_time`)."""
    ts = np.array(
        [parse_time(t, f"{name}[{i}]", assume_utc=assume_utc) for i, t in enumerate(raw)],
        dtype=np.float64,
    )
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if len(bad):
        i = int(bad[0]) + 1
        raise InvalidInput(
            f"{name} must be strictly increasing: {name}[{i}] ({seconds_text(ts[i])}) is not after "
            f"{name}[{i - 1}] ({seconds_text(ts[i - 1])}). Sort the points and drop repeated "
            "timestamps."
        )
    return ts


def check_not_future(ts: npt.NDArray[np.float64], limit_s: float, setting: str) -> None:
    """Refuse timestamps later than ``limit_s`` (unix seconds): one such point would make every
    later real point of its series out of order. ``setting`` names what moves the limit."""
    late = np.flatnonzero(ts > limit_s)
    if len(late):
        i = int(late[0])
        raise InvalidInput(
            f"timestamps[{i}] ({seconds_text(ts[i])} = {utc_text(ts[i])}) is later than the "
            f"service's clock allows ({utc_text(limit_s)}): a point from the future would make "
            "every later point of the series out of order. Send unix seconds in UTC "
            f"({setting} sets how far ahead a point may be)."
        )


def utc_text(seconds: float) -> str:
    """Unix seconds as an RFC 3339 UTC time to the second (``2255-03-14T16:00:00Z``), or
    ``after year 9999`` beyond what a date can hold."""
    try:
        return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return "after year 9999"


def parse_values(
    raw: Sequence[float | list[float]], name: str = "values"
) -> npt.NDArray[np.float64]:
    """``(n_points, n_channels)`` floats; every point must have the same number of channels."""
    width = _width(raw[0])
    for i, v in enumerate(raw):
        got = _width(v)
        if got == 0:
            raise InvalidInput(f"{name}[{i}] is an empty list; a point needs at least one number.")
        if got != width:
            raise InvalidInput(
                f"{name}[{i}] has {_channels(got)} but {name}[0] has {_channels(width)}; "
                "every point needs the same shape (a number, or a list of n numbers)."
            )
    arr = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
    huge = np.flatnonzero((np.abs(arr) > MAX_ABS_VALUE).any(axis=1))
    if len(huge):
        raise InvalidInput(f"{name}[{int(huge[0])}]: {out_of_range(arr[huge[0]])}")
    return arr


def out_of_range(values: npt.NDArray[np.float64]) -> str:
    """Why a point with a value beyond ``MAX_ABS_VALUE`` is refused."""
    top = float(values.flat[int(np.argmax(np.abs(values)))])
    return (
        f"{top!r} is beyond the {MAX_ABS_VALUE:g} in magnitude anomalyd scores (detectors square "
        "deviations, which overflow near the float limit); send the metric in larger units."
    )


def _width(value: float | list[float]) -> int:
    """Channels of one point: -1 for a bare number, else the list's length."""
    return len(value) if isinstance(value, list) else -1


def _channels(n: int) -> str:
    return "a single number" if n == -1 else f"{n} numbers"


def parse_points(
    timestamps: Sequence[float | str], values: Sequence[float | list[float]], max_points: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Validated ``(timestamps, values)`` of a write."""
    if len(timestamps) != len(values):
        raise InvalidInput(
            f"timestamps and values must have the same length; got {len(timestamps)} "
            f"timestamps and {len(values)} values."
        )
    check_count(len(values), max_points)
    return parse_timestamps(timestamps), parse_values(values)


def check_count(n: int, max_points: int) -> None:
    """413 for more points than one request may carry."""
    if n > max_points:
        raise TooLarge(
            f"{n} points in one request; the limit is {max_points}. Split the data into "
            "several requests."
        )
