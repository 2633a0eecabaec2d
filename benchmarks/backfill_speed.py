"""Backfill throughput: points/s of ``anomalyd backfill`` on the development benchmark, one
process against ``--jobs`` processes and against ``--engine ray`` with as many actors, measured
in the same run. The baseline is one local process; every row's output must equal its bytes.

Each univariate series of the suite (first ``--max-points`` points) is written as a CSV file
at 5-minute steps and backfilled with the service's default schedule, for ``mad`` (every
series) and for the default detector (the first ``--default-series``: its refits cost seconds
each). The Ray rows include starting a local Ray instance for the run (a few seconds), as a
user's command does.

    python benchmarks/backfill_speed.py [--jobs 2] [--max-points 3000] [--default-series 4]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suite import add_suite_args, labelled_univariate  # noqa: E402

from anomalyd.detectors import DEFAULT_DETECTOR  # noqa: E402
from anomalyd.service.backfill import Schedule, run  # noqa: E402
from anomalyd.service.backfill_engines import Engine  # noqa: E402
from anomalyd.service.settings import Settings  # noqa: E402
from anomalyd.service.suite import LabelledSeries  # noqa: E402

STEP = 300


@dataclass(frozen=True)
class Row:
    detector: str
    engine: str
    series: int
    points: int
    seconds: float
    same: bool

    @property
    def rate(self) -> float:
        return self.points / self.seconds


def write_folder(folder: Path, suite: list[LabelledSeries], max_points: int) -> None:
    """One CSV per series (its first ``max_points`` values)."""
    folder.mkdir()
    for s in suite:
        values = s.values[:max_points, 0]
        with (folder / f"{s.name.replace('/', '_')}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "value"])
            w.writerows((1.7e9 + STEP * i, float(v)) for i, v in enumerate(values))


def measure(folder: Path, detector: str, engines: list[tuple[str, Engine]]) -> list[Row]:
    """Backfill ``folder`` with each engine; rows compared with the first engine's output."""
    base = Settings(data_dir=folder.parent / "data").series_config()
    rows, first = [], None
    for label, engine in engines:
        out = folder.parent / f"{detector}-{label}.csv"
        t0 = time.perf_counter()
        summary = run([folder], out, base, Schedule(detector), engine=engine)
        seconds = time.perf_counter() - t0
        data = out.read_bytes()
        first = data if first is None else first
        n = len(list(folder.iterdir()))
        rows.append(Row(detector, label, n, summary.points, seconds, data == first))
    return rows


def engines(jobs: int, ray: bool) -> list[tuple[str, Engine]]:
    out = [("local, 1 process", Engine()), (f"local, {jobs} processes", Engine(jobs=jobs))]
    if ray:
        out.append((f"ray, {jobs} actors", Engine("ray", jobs=jobs)))
    return out


def report(rows: list[Row]) -> None:
    print(f"{'detector':<10} {'engine':<20} {'series':>6} {'points':>8} {'s':>8} "
          f"{'points/s':>10} {'vs 1 process':>12} same")  # fmt: skip
    base = {r.detector: r.rate for r in rows if r.engine.startswith("local, 1 ")}
    for r in rows:
        print(f"{r.detector:<10} {r.engine:<20} {r.series:>6} {r.points:>8} {r.seconds:>8.1f} "
              f"{r.rate:>10,.0f} {r.rate / base[r.detector]:>11.2f}x {r.same}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_suite_args(parser)
    parser.add_argument("--jobs", type=int, default=2, help="processes / Ray actors")
    parser.add_argument("--max-points", type=int, default=3000, help="points per series")
    parser.add_argument("--default-series", type=int, default=4)
    parser.add_argument("--mad-series", type=int, default=0, help="0: every series")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray rows")
    args = parser.parse_args(argv)
    suite = labelled_univariate(args)
    if suite is None:
        return 0
    ray = not args.no_ray and importlib.util.find_spec("ray") is not None
    if not ray and not args.no_ray:
        print("Ray is not installed (pip install 'anomalyd[ray]'): its rows are skipped")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for detector, n in (("mad", args.mad_series), (DEFAULT_DETECTOR, args.default_series)):
            folder = Path(tmp) / detector / "in"
            folder.parent.mkdir()
            write_folder(folder, suite[: n or None], args.max_points)
            rows += measure(folder, detector, engines(args.jobs, ray))
    report(rows)
    return 0 if all(r.same for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
