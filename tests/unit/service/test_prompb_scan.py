"""The compiled remote-write scanner against the protobuf parser (the reference path)."""

from __future__ import annotations

import struct

import cramjam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anomalyd.service import prompb_scan, remote_write, remote_write_v2
from anomalyd.service.errors import status_of
from anomalyd.service.faults import Refusal, TooLarge
from anomalyd.service.telemetry import exported_clash

LIMIT = 10**6


def _raw(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(remote_write.encode(series)))


def _outcome(fn: object, raw: bytes) -> object:
    """A comparable summary of a decode: the series and skips, or the error's status."""
    try:
        d = fn(raw, LIMIT)  # type: ignore[operator]
    except Refusal as exc:
        return ("error", status_of(exc))
    rows = sorted(
        (s.series_id, s.labels, s.ts.tolist(), s.values.ravel().tobytes()) for s in d.series
    )
    return rows, d.skipped, d.refused


def _decode(raw: bytes, limit: int) -> remote_write.Decoded:
    body = bytes(cramjam.snappy.compress_raw(raw))
    return remote_write.decode(body, max_decompressed=10**8, max_samples=limit)


def _random_request(rng: np.random.Generator) -> list[tuple[dict[str, str], list]]:
    out = []
    for _k in range(int(rng.integers(0, 6))):
        labels = {"__name__": "m", "k": str(int(rng.integers(0, 4)))}
        if rng.random() < 0.1:
            labels[""] = "a label with an empty name: this series is refused"
        n = int(rng.integers(0, 6))
        ts = np.sort(rng.integers(-5, 50, size=n))
        if rng.random() < 0.2:
            ts = rng.permutation(ts)
        vals = rng.choice([0.0, 1.5, -2.0, np.nan, np.inf], size=n, p=[0.3, 0.3, 0.3, 0.05, 0.05])
        out.append((labels, [(int(t), float(v)) for t, v in zip(ts, vals, strict=True)]))
    return out


def test_usual_request_takes_the_compiled_path() -> None:
    series = [
        ({"__name__": "m", "i": str(i)}, [(t * 1000, t * 0.5 + i) for t in range(10)])
        for i in range(50)
    ]
    raw = _raw(series)
    assert prompb_scan.scan(np.frombuffer(raw, dtype=np.uint8))[0] == prompb_scan.OK
    assert remote_write._scan(raw, LIMIT) is not None
    assert _outcome(remote_write._scan, raw) == _outcome(remote_write.decode_messages, raw)


def test_negative_and_large_timestamps_match_the_parser() -> None:
    raw = _raw([({"a": "b"}, [(-(2**62), 1.0), (-5, 2.0), (2**62, 3.0)])])
    fast = remote_write._scan(raw, LIMIT)
    assert fast is not None
    assert fast.series[0].ts.tolist() == [-(2**62) / 1000, -0.005, 2**62 / 1000]


@pytest.mark.parametrize("seed", range(300))
def test_random_requests_decode_like_the_parser(seed: int) -> None:
    raw = _raw(_random_request(np.random.default_rng(seed)))
    assert _outcome(_decode, raw) == _outcome(remote_write.decode_messages, raw)


@pytest.mark.parametrize("seed", range(300))
def test_corrupted_bytes_decode_or_fail_like_the_parser(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = bytearray(_raw(_random_request(rng)) or b"\x0a\x00")
    for _ in range(int(rng.integers(1, 4))):
        raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
    cut = bytes(raw[: int(rng.integers(0, len(raw) + 1))] if rng.random() < 0.3 else raw)
    assert _outcome(_decode, cut) == _outcome(remote_write.decode_messages, cut)


def test_unknown_fields_and_shapes_it_leaves_to_the_parser() -> None:
    base = _raw([({"a": "b"}, [(1000, 1.0)])])
    metadata = b"\x1a\x03abc"  # WriteRequest field 3 (metadata), skipped by both
    raw = base + metadata
    assert remote_write._scan(raw, LIMIT) is not None
    assert _outcome(_decode, raw) == _outcome(remote_write.decode_messages, raw)
    # a group (wire type 3) is not the scanner's business
    assert prompb_scan.scan(np.frombuffer(b"\x0b\x0c", dtype=np.uint8))[0] == prompb_scan.REFUSED


def test_labels_split_by_samples_are_left_to_the_parser() -> None:
    label = b"\x0a\x03\x0a\x01a"  # Label{name: "a"} as TimeSeries field 1
    sample = b"\x12\x09\x09" + struct.pack("<d", 2.0)  # Sample{value: 2.0} as field 2
    ts = label + sample + b"\x0a\x05\x0a\x01b\x12\x00"  # a second label after the sample
    raw = b"\x0a" + bytes([len(ts)]) + ts
    assert remote_write._scan(raw, LIMIT) is None
    assert _outcome(_decode, raw) == _outcome(remote_write.decode_messages, raw)


def test_too_many_samples_is_413_on_both_paths() -> None:
    raw = _raw([({"a": "b"}, [(t, 1.0) for t in range(5)])])
    with pytest.raises(TooLarge, match="holds 5 samples; the limit is 4") as fast:
        _decode(raw, 4)
    assert status_of(fast.value) == 413


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), max_size=4)
)
def test_any_utf8_names_decode_alike_and_are_kept(labels: dict[str, str]) -> None:
    """Any non-empty UTF-8 label name (Prometheus 3): the scanner, the parser and a 2.0
    request keep the labelset exactly, or all refuse it when two names would be one in a
    Prometheus 2 scrape (``a.b`` and ``a_b``) or it has no labels."""
    raw = _raw([(labels, [(1000, 1.0)])])
    v2 = remote_write_v2.decode_v2(
        remote_write_v2.encode_v2([(labels, [(1000, 1.0)])]),
        max_decompressed=10**8,
        max_samples=LIMIT,
    )
    valid = bool(labels) and exported_clash(labels) is None
    for decoded in (_decode(raw, LIMIT), remote_write.decode_messages(raw, LIMIT), v2):
        assert [s.labels for s in decoded.series] == ([labels] if valid else [])
        assert [r.reason for r in decoded.refused] == ([] if valid else ["invalid_labels"])
