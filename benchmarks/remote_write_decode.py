"""Decoding speed of remote-write requests: the compiled wire scanner against the protobuf parser.

Both decode the same snappy-compressed 1.0 ``WriteRequest`` bodies (``--series`` labelsets of 3
labels, ``--per-series`` samples each, the shape Prometheus sends) into the same per-series
arrays; the baseline is the reference path (``remote_write.decode_messages``: protobuf's own
parser and one labelset at a time). Both paths include snappy decompression and run with a
warm labelset cache, as in a running service. Prints the ratio.

The same series as a remote-write 2.0 ``Request`` (symbols table, label references; decoded
with the protobuf parser, ``remote_write_v2.decode_v2``) are timed against the same 1.0
baseline: the ratio says what 2.0 costs or saves per sample on this receiver.

    .venv/bin/python benchmarks/remote_write_decode.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cramjam
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomalyd.service import remote_write, remote_write_v2  # noqa: E402
from benchmarks._timing import best_of  # noqa: E402

LIMIT = 10**7


def request(n_series: int, per_series: int, seed: int = 0, v2: bool = False) -> bytes:
    """A snappy body: ``n_series`` labelsets with ``per_series`` samples each, in time order."""
    rng = np.random.default_rng(seed)
    series = [
        (
            {"__name__": "node_cpu_seconds_total", "instance": f"host-{i}:9100", "mode": "user"},
            [(15_000 * t, float(v)) for t, v in enumerate(rng.normal(size=per_series))],
        )
        for i in range(n_series)
    ]
    return remote_write_v2.encode_v2(series) if v2 else remote_write.encode(series)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--series", type=int, default=200)
    p.add_argument("--per-series", type=int, default=10)
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args(argv)
    body = request(args.series, args.per_series)
    body_v2 = request(args.series, args.per_series, v2=True)

    def scanner() -> remote_write.Decoded:
        return remote_write.decode(body, max_decompressed=LIMIT, max_samples=LIMIT)

    def parser() -> remote_write.Decoded:
        raw = bytes(cramjam.snappy.decompress_raw(body))
        return remote_write.decode_messages(raw, LIMIT)

    def parser_v2() -> remote_write.Decoded:
        return remote_write_v2.decode_v2(body_v2, max_decompressed=LIMIT, max_samples=LIMIT)

    fast, slow, v2 = scanner(), parser(), parser_v2()  # also warm the code and label cache
    same = _same(fast, slow) and _same(v2, slow)
    t_fast, t_slow = best_of(scanner, args.repeats), best_of(parser, args.repeats)
    t_v2 = best_of(parser_v2, args.repeats)
    n = args.series * args.per_series
    print(
        f"remote-write decode, {args.series} series x {args.per_series} samples ({len(body)} "
        f"bytes snappy), best of {args.repeats}; same result: {same}"
    )
    print(f"  protobuf parser (baseline) {t_slow * 1e3:8.3f} ms  {n / t_slow:12,.0f} samples/s")
    print(f"  compiled scanner           {t_fast * 1e3:8.3f} ms  {n / t_fast:12,.0f} samples/s")
    print(f"  ratio (parser / scanner)   {t_slow / t_fast:8.1f}x")
    print(f"  2.0 Request, parser        {t_v2 * 1e3:8.3f} ms  {n / t_v2:12,.0f} samples/s")
    print(f"  ratio (1.0 parser / 2.0)   {t_slow / t_v2:8.1f}x  ({len(body_v2)} bytes snappy)")
    return 0 if same else 1


def _same(a: remote_write.Decoded, b: remote_write.Decoded) -> bool:
    return all(
        x.series_id == y.series_id
        and np.array_equal(x.ts, y.ts)
        and np.array_equal(x.values, y.values)
        for x, y in zip(a.series, b.series, strict=True)
    )


if __name__ == "__main__":
    raise SystemExit(main())
