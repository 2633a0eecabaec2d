"""Prometheus remote-write 1.0 decoding: snappy (block format) + protobuf ``WriteRequest``.

The messages are the generated bindings of ``service/prompb/remote_write_v1.proto`` (the 1.0
specification's field numbers; fields this receiver does not use are skipped by the parser).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cramjam
import numpy as np
import numpy.typing as npt
from google.protobuf import message

from anomalyd.service import prompb_scan
from anomalyd.service.engine import Refused
from anomalyd.service.faults import MalformedBody, TooLarge
from anomalyd.service.parsing import (
    MAX_ABS_VALUE,
    REMOTE_WRITE_DIGITS,
    REMOTE_WRITE_PREFIX,
    out_of_range,
    seconds_text,
    utc_text,
)
from anomalyd.service.prompb import remote_write_v1_pb2
from anomalyd.service.telemetry import LABEL_NAME, exported_clash

PROTO = "prometheus.WriteRequest"
"""The ``proto=`` parameter of a 1.0 request's Content-Type (its default)."""
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
"""A metric name of the legacy (pre-UTF-8) form, written unquoted."""
STALE_NAN_BITS = 0x7FF0000000000002
"""Prometheus' staleness marker: a NaN with this exact bit pattern."""

WriteRequest = remote_write_v1_pb2.WriteRequest
TimeSeries = remote_write_v1_pb2.TimeSeries


@dataclass
class DecodedSeries:
    """One labelset of a write request: its samples in time order (seconds), and the HA
    replica that sent them (``None`` without a replica label)."""

    series_id: str
    labels: dict[str, str]
    ts: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    replica: str | None = None


@dataclass
class Decoded:
    """A decoded request: its series, the samples skipped as no data (by reason: staleness
    markers, NaN and infinite values) and the series or samples refused."""

    series: list[DecodedSeries]
    skipped: dict[str, int] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return sum(len(s.ts) for s in self.series)


class InvalidLabels(ValueError):
    """A TimeSeries' labels cannot name a series: that series is refused, not the request."""


def series_id_for(labels: dict[str, str]) -> str:
    """Stable id of a labelset: ``rw-`` + 20 hex digits of the canonical labelset's SHA-256."""
    digest = hashlib.sha256(canonical(labels).encode()).hexdigest()
    return REMOTE_WRITE_PREFIX + digest[:REMOTE_WRITE_DIGITS]


def canonical(labels: dict[str, str]) -> str:
    """``name{a="x",b="y"}`` with sorted labels and escaped values (the Prometheus text form);
    a name that is not of the legacy form is quoted and escaped (``{"a.b"="x"}``), so two
    labelsets never share a form (nor a series id)."""
    name = labels.get("__name__", "")
    rest = ",".join(
        f'{_name(k)}="{_escape(v)}"' for k, v in sorted(labels.items()) if k != "__name__"
    )
    return f"{_quoted(name)}{{{rest}}}"


def _name(key: str) -> str:
    return key if LABEL_NAME.match(key) else f'"{_escape(key)}"'


def _quoted(metric: str) -> str:
    return metric if not metric or METRIC_NAME.match(metric) else f'"{_escape(metric)}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block declares (its leading varint)."""
    length = shift = 0
    for i, byte in enumerate(body[:10]):
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length
        shift += 7
        if i == 9:
            break
    raise MalformedBody("The body is not snappy-compressed (block format) data.")


def decompress(body: bytes, max_bytes: int) -> bytes:
    """Snappy block decompression with a size check before any work."""
    if not body:
        raise MalformedBody("The request body is empty; send a snappy-compressed WriteRequest.")
    declared = snappy_length(body)
    if declared > max_bytes:
        raise TooLarge(
            f"The decompressed WriteRequest would be {declared} bytes; the limit is {max_bytes}. "
            "Lower `max_samples_per_send` in Prometheus' remote_write queue_config."
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise MalformedBody(f"The body is not valid snappy (block format) data: {exc}.") from exc


def parse(raw: bytes) -> Any:
    """Parse the protobuf ``WriteRequest``."""
    req = WriteRequest()
    try:
        req.ParseFromString(raw)
    except message.DecodeError as exc:
        raise MalformedBody(f"The body is not a valid protobuf WriteRequest: {exc}.") from exc
    return req


Pairs = tuple[tuple[str, str], ...]
"""A labelset as sent: (name, value) pairs."""


MAX_LABELS = 30
"""Labels per series at most (Mimir's ``max_label_names_per_series``)."""
MAX_NAME_BYTES = 1024
MAX_VALUE_BYTES = 2048
"""Longest label name and value, in UTF-8 bytes (Mimir's defaults)."""


def _labels(pairs: Pairs, position: int) -> dict[str, str]:
    """The labels of one TimeSeries. Any non-empty UTF-8 name is valid (Prometheus 3); a
    label with an empty value is an absent label (as in Prometheus). Raises InvalidLabels for
    an empty name, a name twice, no labels, labels over the limits, or two names a Prometheus 2
    scrape would see as one (``a.b`` and ``a_b``)."""
    where = f"timeseries[{position}]"
    labels: dict[str, str] = {}
    for name, value in _checked(pairs, where):
        if value:
            labels[name] = value
    if not labels:
        raise InvalidLabels(f"{where} has no labels")
    if len(labels) > MAX_LABELS:
        raise InvalidLabels(f"{where} has {len(labels)} labels; at most {MAX_LABELS} are allowed")
    clash = exported_clash(labels)
    if clash is not None:
        raise InvalidLabels(
            f"{where} has labels {clash[0]!r} and {clash[1]!r}, which a Prometheus 2 scrape "
            f"of /metrics would both see as {clash[2]!r}; rename one of them"
        )
    return labels


def _checked(pairs: Pairs, where: str) -> Pairs:
    """``pairs`` when every name is non-empty, unique and within the length limits."""
    seen: set[str] = set()
    for name, value in pairs:
        if not name:
            raise InvalidLabels(f"{where} has a label with an empty name")
        if name in seen:
            raise InvalidLabels(f"{where} has label {name!r} twice")
        if len(name.encode()) > MAX_NAME_BYTES or len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidLabels(
                f"{where} has label {name[:40]!r} with a name over {MAX_NAME_BYTES} or a value "
                f"over {MAX_VALUE_BYTES} bytes"
            )
        seen.add(name)
    return pairs


@dataclass(frozen=True)
class Identity:
    """A labelset as a series: its id, its labels, and the HA replica that sent it (the value
    of the replica label, dropped from the labels and the id; ``None`` without one)."""

    series_id: str
    labels: dict[str, str]
    replica: str | None = None


class LabelCache:
    """Validated identities of the labelsets seen recently (Prometheus resends the same
    labelsets in every request). Keyed by the labels as read from a message, or by their
    encoded bytes (the compiled scanner's key). Bounded: cleared when it reaches ``size``.
    ``replica_label`` (``""``: none) is dropped from every labelset's identity."""

    def __init__(self, size: int = 200_000, replica_label: str = "") -> None:
        self.size = size
        self.replica_label = replica_label
        self._known: dict[object, Identity] = {}

    def lookup(self, pairs: Pairs, position: int) -> Identity:
        """The identity of the labelset of one TimeSeries. Raises InvalidLabels."""
        hit = self._known.get(pairs)
        return hit if hit is not None else self._remember(pairs, pairs, position)

    def lookup_encoded(self, encoded: bytes, position: int) -> Identity:
        """The same for the encoded label fields of a TimeSeries (a TimeSeries of its own).
        Raises InvalidLabels, or MalformedBody when they are not valid protobuf."""
        hit = self._known.get(encoded)
        if hit is not None:
            return hit
        try:
            ts = TimeSeries.FromString(encoded)
        except message.DecodeError as exc:
            raise MalformedBody(
                f"timeseries[{position}]: labels are not valid protobuf: {exc}."
            ) from exc
        return self._remember(encoded, v1_pairs(ts), position)

    def _remember(self, key: object, pairs: Pairs, position: int) -> Identity:
        labels = _labels(pairs, position)
        replica = labels.pop(self.replica_label, "") if self.replica_label else None
        if not labels:
            raise InvalidLabels(f"timeseries[{position}] has no labels but the replica label")
        hit = Identity(series_id_for(labels), labels, replica)
        if len(self._known) >= self.size:
            self._known.clear()
        self._known[key] = hit
        return hit


_CACHES: dict[str, LabelCache] = {}


def label_cache(replica_label: str = "") -> LabelCache:
    """The process' label cache for one replica label."""
    return _CACHES.setdefault(replica_label, LabelCache(replica_label=replica_label))


def _samples(ts: Any, skipped: dict[str, int]) -> tuple[npt.NDArray[np.float64], ...]:
    """Timestamps (s) and values of the finite samples; the others are counted by reason."""
    samples = ts.samples
    t = np.array([s.timestamp for s in samples], dtype=np.float64)
    v = np.array([s.value for s in samples], dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        stale = int((v[~finite].view(np.uint64) == STALE_NAN_BITS).sum())
        for reason, n in (("stale_marker", stale), ("non_finite", int((~finite).sum()) - stale)):
            if n:
                skipped[reason] = skipped.get(reason, 0) + n
        t, v = t[finite], v[finite]
    return t / 1000.0, v


def v1_pairs(ts: Any) -> Pairs:
    """The labelset of a 1.0 TimeSeries message."""
    return tuple((label.name, label.value) for label in ts.labels)


NATIVE_HISTOGRAMS = (
    "native histograms are not scored; send float samples (classic histograms' _bucket, _sum "
    "and _count series are)"
)


def collect(
    req: Any, cache: LabelCache, refused: list[Refused], pairs: Callable[[Any, int], Pairs]
) -> tuple[list[DecodedSeries], dict[str, int]]:
    """Each labelset's float samples in time order (per replica) and the samples skipped by
    reason, from a 1.0 or 2.0 request (``pairs`` reads a TimeSeries' labelset). Series with
    invalid labels, native histograms and repeats with another value go to ``refused``."""
    by_id: dict[tuple[str, str | None], DecodedSeries] = {}
    skipped: dict[str, int] = {}
    for position, ts in enumerate(req.timeseries):
        who = _identity(ts, position, cache, refused, pairs)
        if who is None:
            continue
        _count_extras(ts, who, refused, skipped)
        t, v = _samples(ts, skipped)
        seen = by_id.get((who.series_id, who.replica))
        if seen is not None:  # the same labelset twice in one request
            t, v = np.concatenate([seen.ts, t]), np.concatenate([seen.values[:, 0], v])
        by_id[who.series_id, who.replica] = DecodedSeries(
            who.series_id, who.labels, t, v.reshape(-1, 1), who.replica
        )
    return [_ordered(s, refused) for s in by_id.values() if len(s.ts)], skipped


def _identity(
    ts: Any,
    position: int,
    cache: LabelCache,
    refused: list[Refused],
    pairs: Callable[[Any, int], Pairs],
) -> Identity | None:
    """The series of a TimeSeries, or ``None`` (its samples refused) when it has none."""
    try:
        return cache.lookup(pairs(ts, position), position)
    except InvalidLabels as exc:
        n = len(ts.samples) + len(ts.histograms)
        refused.append(Refused(f"timeseries[{position}]", "invalid_labels", n, str(exc)))
        return None


def _count_extras(ts: Any, who: Identity, refused: list[Refused], skipped: dict[str, int]) -> None:
    """Native histograms are refused (``native_histogram``); exemplars, annotations of
    samples, are skipped and counted (``exemplar``)."""
    if len(ts.histograms):
        refused.append(
            Refused(who.series_id, "native_histogram", len(ts.histograms), NATIVE_HISTOGRAMS)
        )
    if len(ts.exemplars):
        skipped["exemplar"] = skipped.get("exemplar", 0) + len(ts.exemplars)


def _ordered(s: DecodedSeries, refused: list[Refused]) -> DecodedSeries:
    """Samples in time order, once per timestamp: the first sent is kept, a repeat with its
    value dropped, a repeat with another value refused (``duplicate_timestamp``)."""
    ts, values = s.ts, s.values
    if len(ts) < 2 or (np.diff(ts) > 0).all():
        return s
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    repeat = np.concatenate([[False], np.diff(ts) == 0])
    first = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(ts))))
    other = repeat & (values[:, 0] != values[first, 0])
    if other.any():
        why = f"timestamp {ts[other][0]:.3f}: sent twice in the request with different values"
        refused.append(Refused(s.series_id, "duplicate_timestamp", int(other.sum()), why))
    return DecodedSeries(s.series_id, s.labels, ts[~repeat], values[~repeat], s.replica)


def decode(
    body: bytes, *, max_decompressed: int, max_samples: int, replica_label: str = ""
) -> Decoded:
    """Decode a remote-write body into per-labelset sample arrays.

    Non-finite samples (Prometheus' staleness markers and NaN/Inf values) are not data points:
    they are skipped and counted by reason. A series with invalid labels and samples sent twice
    with different values are refused (``Decoded.refused``); the rest decodes. Raises
    MalformedBody when the body is not snappy-compressed protobuf, TooLarge over the
    limits.
    """
    raw = decompress(body, max_decompressed)
    fast = _scan(raw, max_samples, replica_label)
    if fast is not None and fast.series:
        return fast
    return decode_messages(raw, max_samples, replica_label)


def decode_messages(raw: bytes, max_samples: int, replica_label: str = "") -> Decoded:
    """The reference path: the protobuf parser and one labelset at a time. Handles every
    request the compiled scanner leaves to it (and gives the errors)."""
    req = parse(raw)
    if not len(req.timeseries) and raw[:1] in (b"\x22", b"\x2a"):  # 2.0 fields 4 and 5
        raise MalformedBody(
            "The body holds no 1.0 time series but starts like a remote-write 2.0 Request; "
            "send it with Content-Type application/x-protobuf;proto=io.prometheus.write.v2.Request."
        )
    check_total(sum(len(ts.samples) + len(ts.histograms) for ts in req.timeseries), max_samples)
    refused: list[Refused] = []
    series, skipped = collect(req, label_cache(replica_label), refused, lambda ts, _: v1_pairs(ts))
    return Decoded(series, skipped, refused)


def refuse_after(decoded: Decoded, limit_s: float) -> None:
    """Refuse the samples later than ``limit_s`` (seconds since the epoch) as
    ``too_far_in_future``: one such sample would make every later real one out of order.
    Changes ``decoded``."""

    def why(s: DecodedSeries, bad: npt.NDArray[np.bool_]) -> str:
        first = s.ts[bad][0]
        return f"timestamp {seconds_text(first)} ({utc_text(first)}): later than the clock allows"

    _refuse_where(decoded, lambda s: s.ts > limit_s, "too_far_in_future", why)


def refuse_out_of_range(decoded: Decoded) -> None:
    """Refuse the samples beyond ``MAX_ABS_VALUE`` in magnitude as ``value_out_of_range``.
    Changes ``decoded``."""

    def why(s: DecodedSeries, bad: npt.NDArray[np.bool_]) -> str:
        return f"value {out_of_range(s.values[bad][0])}"

    huge = lambda s: (np.abs(s.values) > MAX_ABS_VALUE).any(axis=1)  # noqa: E731
    _refuse_where(decoded, huge, "value_out_of_range", why)


def _refuse_where(
    decoded: Decoded,
    refuse: Callable[[DecodedSeries], npt.NDArray[np.bool_]],
    reason: str,
    why: Callable[[DecodedSeries, npt.NDArray[np.bool_]], str],
) -> None:
    """Move each series' samples where ``refuse`` is true to ``decoded.refused`` as ``reason``
    (``why`` says why, from the series and the mask); series left empty are dropped."""
    kept = []
    for s in decoded.series:
        bad = refuse(s)
        if bad.any():
            name = canonical(s.labels)  # the series may leave ``decoded``: named by its labels
            decoded.refused.append(Refused(name, reason, int(bad.sum()), why(s, bad)))
            s = DecodedSeries(s.series_id, s.labels, s.ts[~bad], s.values[~bad], s.replica)
        if len(s.ts):
            kept.append(s)
    decoded.series = kept


def check_total(total: int, max_samples: int) -> None:
    if total > max_samples:
        raise TooLarge(
            f"The WriteRequest holds {total} samples; the limit is {max_samples}. "
            "Lower `max_samples_per_send` in Prometheus' remote_write queue_config."
        )


def _scan(raw: bytes, max_samples: int, replica_label: str = "") -> Decoded | None:
    """The compiled path for the usual request: every sample finite, each series in time
    order and once per request. ``None`` for anything else (the message path decides)."""
    status, rows, ts_ms, bits = prompb_scan.scan(np.frombuffer(raw, dtype=np.uint8))
    if status != prompb_scan.OK:
        return None
    check_total(len(ts_ms), max_samples)
    values = bits.view(np.float64)
    if not np.isfinite(values).all() or not _each_increasing(ts_ms, rows[:, 2]):
        return None
    ts, cache = ts_ms / 1000.0, label_cache(replica_label)
    series: dict[tuple[str, str | None], DecodedSeries] = {}
    for position, (lo, hi, first, end) in enumerate(rows.tolist()):
        try:
            who = cache.lookup_encoded(raw[lo:hi], position)
        except InvalidLabels:
            return None  # refused series are described by the message path
        key = (who.series_id, who.replica)
        if first == end:
            continue
        if key in series:
            return None  # the same labelset twice: merged by the message path
        vals = values[first:end, None]
        series[key] = DecodedSeries(who.series_id, who.labels, ts[first:end], vals, who.replica)
    return Decoded(list(series.values()), {})


def _each_increasing(ts: npt.NDArray[np.int64], starts: npt.NDArray[np.int64]) -> bool:
    """True when the timestamps strictly increase within each run that starts at ``starts``."""
    rising = np.diff(ts) > 0
    cut = starts[(starts > 0) & (starts < len(ts))] - 1
    rising[cut] = True
    return bool(rising.all())


def encode(series: Sequence[tuple[dict[str, str], Sequence[tuple[int, float]]]]) -> bytes:
    """Build a snappy-compressed WriteRequest (timestamps in ms); used by tests and benchmarks."""
    req = WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in sorted(labels.items()):
            ts.labels.add(name=name, value=value)
        for t_ms, v in samples:
            ts.samples.add(timestamp=int(t_ms), value=float(v))
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
