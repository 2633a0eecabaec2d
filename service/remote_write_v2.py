"""Prometheus remote-write 2.0 decoding: snappy + protobuf ``io.prometheus.write.v2.Request``.

A 2.0 request carries every string once, in its ``symbols`` table; a series names its labels
by pairs of indices into it. Float samples are stored as with 1.0, native histograms are
refused per series and exemplars counted (``remote_write.collect``). The messages are the
generated bindings of ``service/prompb/remote_write_v2.proto``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cramjam
from google.protobuf import message

from anomalyd.service import remote_write
from anomalyd.service.engine import Refused
from anomalyd.service.faults import MalformedBody
from anomalyd.service.prompb import remote_write_v2_pb2
from anomalyd.service.remote_write import (
    Decoded,
    InvalidLabels,
    Pairs,
    check_total,
    collect,
    decompress,
    label_cache,
)

PROTO = "io.prometheus.write.v2.Request"
"""The ``proto=`` parameter of a 2.0 request's Content-Type."""


def decode_v2(
    body: bytes, *, max_decompressed: int, max_samples: int, replica_label: str = ""
) -> Decoded:
    """Decode a 2.0 body into per-labelset sample arrays, as ``remote_write.decode`` does 1.0.

    Raises MalformedBody when the body is not snappy-compressed protobuf of a 2.0 request,
    TooLarge over the limits.
    """
    raw = decompress(body, max_decompressed)
    req = parse_v2(raw)
    if not len(req.timeseries) and raw[:1] == b"\x0a":  # the 1.0 message's field 1
        raise MalformedBody(
            f"The body holds no 2.0 time series but starts like a remote-write 1.0 "
            f"WriteRequest; send it with proto={remote_write.PROTO} or without proto=."
        )
    check_total(sum(len(ts.samples) + len(ts.histograms) for ts in req.timeseries), max_samples)
    symbols = list(req.symbols)
    refused: list[Refused] = []
    series, skipped = collect(
        req, label_cache(replica_label), refused, lambda ts, at: pairs_of(symbols, ts, at)
    )
    return Decoded(series, skipped, refused)


def parse_v2(raw: bytes) -> Any:
    """Parse the protobuf 2.0 ``Request``."""
    req = remote_write_v2_pb2.Request()
    try:
        req.ParseFromString(raw)
    except message.DecodeError as exc:
        raise MalformedBody(f"The body is not a valid protobuf {PROTO}: {exc}.") from exc
    return req


def pairs_of(symbols: Sequence[str], ts: Any, position: int) -> Pairs:
    """The labelset of a 2.0 TimeSeries: its ``labels_refs`` looked up in ``symbols``.
    Raises InvalidLabels for an odd number of references or one past the table."""
    refs = ts.labels_refs
    if len(refs) % 2:
        raise InvalidLabels(f"timeseries[{position}] has an odd number of label references")
    if refs and max(refs) >= len(symbols):
        raise InvalidLabels(
            f"timeseries[{position}] refers to symbol {max(refs)}; the request has "
            f"{len(symbols)} symbols"
        )
    return tuple((symbols[refs[i]], symbols[refs[i + 1]]) for i in range(0, len(refs), 2))


def encode_v2(
    series: Sequence[tuple[dict[str, str], Sequence[tuple[int, float]]]],
    *,
    histograms: int = 0,
    exemplars: int = 0,
) -> bytes:
    """Build a snappy-compressed 2.0 request (timestamps in ms; ``histograms`` native
    histogram samples and ``exemplars`` exemplars on each series); for tests and benchmarks."""
    req = remote_write_v2_pb2.Request(symbols=[""])
    index = {"": 0}

    def ref(text: str) -> int:
        if text not in index:
            index[text] = len(req.symbols)
            req.symbols.append(text)
        return index[text]

    for labels, samples in series:
        ts = req.timeseries.add()
        ts.labels_refs.extend(ref(x) for kv in sorted(labels.items()) for x in kv)
        for t_ms, v in samples:
            ts.samples.add(timestamp=int(t_ms), value=float(v))
        for i in range(histograms):
            ts.histograms.add(timestamp=i)
        for i in range(exemplars):
            ts.exemplars.add(value=1.0, timestamp=i)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
