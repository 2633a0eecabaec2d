"""Detector speed: fit time per series and scoring windows/s, batched vs one by one.

Run from the repository root::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/detectors_speed.py
    .venv/bin/python benchmarks/detectors_speed.py --quick                 # smoke run, seconds
    .venv/bin/python benchmarks/detectors_speed.py --detectors mad,ae --series 1,100 --json out.json
    .venv/bin/python benchmarks/detectors_speed.py --themis-tiny           # THEMIS, random weights

For each detector (default: every registered one that can be created and fitted here) and each
number of series S (``--series``, default 1, 100 and 1,000), S seeded synthetic series (sine +
noise + a few spikes, ``--points`` each, the first ``--train`` of them the training prefix) are

* fitted and scored **one by one**: ``det.fit(train)`` then ``det.score(values)`` per series;
* fitted and scored **batched**: ``cls.fit_many([...])`` then ``cls.score_many([...])``;
* **streamed**: one ``StreamScorer.update_many`` call with 1 new point per series vs one
  ``StreamScorer.update`` call per series.

Printed per row: fit seconds per series, scoring windows/s (points with a full window, over
seconds) and streaming updates/s, each one by one and batched, with the ratio batched speed /
one-by-one speed (> 1: batching is faster), and whether both paths gave the same scores.

Timing rules. numba / torch JIT is warmed up first (a tiny fit/score through every path, then
one full-size fit/score that also gives the first cost estimate); none of that is in the table.
Phases shorter than ``--min-time`` are repeated (up to 5 times) and the fastest run is kept.
The one-by-one cost per series does not depend on S, so at large S it is measured on the first
``loop n`` series only (as many as fit in 10% of ``--budget-s``; the table shows ``n/S``).
Every series count is estimated before it runs from the per-series costs measured so far
(linear in S). When that overruns ``--budget-s`` (per detector and device), an untimed batched
probe on 10x the last batch size refines the estimate (batching usually gets cheaper per series
with more series); if it still overruns, the count runs with 1/2 or 1/4 of the points (the
``points`` column and a note say so), or is skipped with a note, together with every larger one.

Devices: torch runs with ``--threads`` threads (default 1, BLAS too). Detectors with a
``device`` parameter (ae, apre, themis) run on the CPU and, where ``torch.cuda.is_available()``,
on CUDA as well (``--devices``); the others run on the CPU only. The header says whether CUDA
was used and on which GPU.

THEMIS needs a Chronos-Bolt checkpoint and the Hugging Face Hub is unreachable here, so it runs
only with ``--themis-model PATH`` or ``--themis-tiny`` (a randomly initialised checkpoint with
the published chronos-bolt-tiny sizes, built in a temporary directory). Numbers measured with
random weights are labelled "random tiny weights: speed only" (the architecture, not the
weights, sets the speed); pass ``--themis-random`` when ``PATH`` holds such a checkpoint.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from anomalyd.detectors import StreamScorer, registry
from anomalyd.detectors.base import Detector

ROOT = Path(__file__).resolve().parents[1]
RANDOM_LABEL = "random tiny weights: speed only"
LOOP_SHARE = 0.1  # share of --budget-s that the one-by-one sample of one series count may use
POINT_SCALES = (1.0, 0.5, 0.25)  # fewer points when a series count would overrun the budget
MAX_REPEATS = 5
N_SPIKES = 3


# ---------------------------------------------------------------------------------- data
def make_series(n_series: int, n_points: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded sine + noise + a few spikes; a different period and phase per series.

    Series ``i`` is the same whatever ``n_series`` is (one generator, drawn in order)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    out = []
    for _ in range(n_series):
        period, phase = rng.uniform(20, 60), rng.uniform(0, 2 * np.pi)
        x = np.sin(2 * np.pi * t / period + phase) + 0.1 * rng.normal(size=n_points)
        at = rng.choice(n_points, size=min(N_SPIKES, n_points), replace=False)
        x[at] += rng.choice([-1.0, 1.0], size=len(at)) * rng.uniform(3, 6, size=len(at))
        out.append(x)
    return out


# ---------------------------------------------------------------------------------- timing
def timed(fn: Callable[[], Any], min_time: float) -> tuple[float, float, Any]:
    """(fastest run s, total wall s, last result): repeats ``fn`` while the total is below
    ``min_time`` (at most ``MAX_REPEATS`` runs)."""
    best, total, out = math.inf, 0.0, None
    for _ in range(MAX_REPEATS):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, total = min(best, dt), total + dt
        if total >= min_time:
            break
    return best, total, out


def n_windows(dets: Sequence[Detector], values: Sequence[np.ndarray]) -> int:
    """Points with a full window (the ones a detector scores) over all series."""
    return sum(max(len(x) - d.context_length, 0) for d, x in zip(dets, values, strict=True))


def same_scores(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> tuple[bool, float]:
    """(equal within 1e-6 relative, NaN where NaN; largest absolute difference)."""
    ok, worst = True, 0.0
    for x, y in zip(a, b, strict=True):
        ok = ok and bool(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True))
        both = np.isfinite(x) & np.isfinite(y)
        if both.any():
            worst = max(worst, float(np.max(np.abs(x[both] - y[both]))))
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            ok, worst = False, math.inf
    return ok, worst


# ---------------------------------------------------------------------------------- specs
@dataclass
class Spec:
    """One detector on one device, with its parameters."""

    name: str
    device: str  # "cpu" or "cuda"; detectors without a `device` parameter run on the CPU
    params: dict[str, Any]
    label: str = ""

    @property
    def cls(self) -> type[Detector]:
        return registry.get_class(self.name)

    def create(self) -> Detector:
        return registry.create(self.name, self.params)


@dataclass
class Row:
    """One (detector, device, series count) measurement; speeds are per second."""

    detector: str
    device: str
    series: int
    points: int
    train: int
    loop_series: int
    fit_loop_s: float  # fit seconds per series, one by one
    fit_batch_s: float  # fit seconds per series, fit_many
    score_loop_wps: float  # scored windows per second, one by one
    score_batch_wps: float  # scored windows per second, score_many
    stream_loop_ups: float  # 1-point updates per second, one update() per series
    stream_batch_ups: float  # 1-point updates per second, one update_many() call
    same: bool
    max_diff: float
    label: str = ""
    fit_ratio: float = field(init=False)
    score_ratio: float = field(init=False)
    stream_ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.fit_ratio = self.fit_loop_s / self.fit_batch_s
        self.score_ratio = self.score_batch_wps / self.score_loop_wps
        self.stream_ratio = self.stream_batch_ups / self.stream_loop_ups


@dataclass
class Budget:
    """Time left for one spec, and its per-series costs (seconds at full size) so far."""

    limit_s: float
    spent_s: float = 0.0
    loop_cost: float = 0.0  # fit + score + stream update of one series, one by one
    batch_cost: float = 0.0  # the same per series, batched
    batch_at: int = 1  # how many series batch_cost was measured on

    @property
    def left_s(self) -> float:
        return self.limit_s - self.spent_s

    def loop_n(self, n_series: int, scale: float) -> int:
        """How many series the one-by-one sample takes at this point scale."""
        fits = int(LOOP_SHARE * self.limit_s / max(self.loop_cost * scale, 1e-9))
        return min(n_series, max(1, fits))

    def estimate(self, n_series: int, scale: float) -> float:
        loop = self.loop_n(n_series, scale) * self.loop_cost
        return scale * (loop + n_series * (self.batch_cost or self.loop_cost))


# ---------------------------------------------------------------------------------- running
@dataclass
class Settings:
    series: list[int]
    points: int
    train: int
    budget_s: float
    min_time: float
    stream_updates: int


def warm_up(spec: Spec, points: int, train: int) -> float:
    """Untimed: a tiny fit/score through every path (JIT), then one full-size fit/score.

    Returns the full-size fit + score seconds (the first cost estimate)."""
    det = spec.create()
    n_tiny = max(det.min_train_points() + 32, 256)
    x = make_series(2, n_tiny + 32, seed=99)
    pairs = [(spec.create(), s[:n_tiny]) for s in x]
    dets = spec.cls.fit_many(pairs)
    spec.cls.score_many(list(zip(dets, x, strict=True)))
    dets[0].score(x[0])
    scorers = [StreamScorer(d, context=s) for d, s in zip(dets, x, strict=True)]
    StreamScorer.update_many(scorers, [s[-1:] for s in x])
    scorers[0].update(x[0][-1:])
    full = make_series(1, points, seed=98)[0]
    t0 = time.perf_counter()
    det.fit(full[:train]).score(full)
    return time.perf_counter() - t0


def measure(spec: Spec, n_series: int, n_loop: int, points: int, train: int, st: Settings) -> Row:
    """Time one series count: one by one on the first ``n_loop`` series, batched on all."""
    values = make_series(n_series, points)
    trains = [x[:train] for x in values]
    rng = np.random.default_rng(1)
    news = [rng.normal(size=(st.stream_updates, 1)) for _ in values]
    cls = spec.cls

    loop_dets = [spec.create() for _ in range(n_loop)]
    pairs = list(zip(loop_dets, trains, strict=False))
    fit_l, _, _ = timed(lambda: [d.fit(tr) for d, tr in pairs], st.min_time)
    pairs_s = list(zip(loop_dets, values, strict=False))
    score_l, _, loop_scores = timed(lambda: [d.score(x) for d, x in pairs_s], st.min_time)
    loop_scorers = [StreamScorer(d, context=x) for d, x in pairs_s]
    stream_l = _stream_time(
        lambda i: [s.update(n[i]) for s, n in zip(loop_scorers, news, strict=False)], st
    )

    batch_dets = [spec.create() for _ in range(n_series)]
    items = list(zip(batch_dets, trains, strict=True))
    fit_b, _, _ = timed(lambda: cls.fit_many(items), st.min_time)
    items_s = list(zip(batch_dets, values, strict=True))
    score_b, _, batch_scores = timed(lambda: cls.score_many(items_s), st.min_time)
    scorers = [StreamScorer(d, context=x) for d, x in items_s]
    stream_b = _stream_time(lambda i: StreamScorer.update_many(scorers, [n[i] for n in news]), st)

    same, diff = same_scores(loop_scores, batch_scores[:n_loop])
    return Row(
        detector=spec.name,
        device=spec.device,
        series=n_series,
        points=points,
        train=train,
        loop_series=n_loop,
        fit_loop_s=fit_l / n_loop,
        fit_batch_s=fit_b / n_series,
        score_loop_wps=n_windows(loop_dets, values[:n_loop]) / score_l,
        score_batch_wps=n_windows(batch_dets, values) / score_b,
        stream_loop_ups=n_loop / stream_l,
        stream_batch_ups=n_series / stream_b,
        same=same,
        max_diff=diff,
        label=spec.label,
    )


def _stream_time(update: Callable[[int], Any], st: Settings) -> float:
    """Fastest of ``stream_updates`` rounds of one new point per series (each round advances)."""
    best, total = math.inf, 0.0
    for i in range(st.stream_updates):
        t0 = time.perf_counter()
        update(i)
        dt = time.perf_counter() - t0
        best, total = min(best, dt), total + dt
        if total >= st.min_time and i >= 1:
            break
    return best


def run_spec(spec: Spec, st: Settings, notes: list[str]) -> list[Row]:
    """Every series count of one spec within its budget; notes say what was cut or skipped."""
    tag = f"{spec.name} ({spec.device})"
    min_train = spec.create().min_train_points()
    train, points = st.train, st.points
    if min_train > train:
        train, points = min_train, min_train + (st.points - st.train)
        notes.append(f"{tag}: needs {min_train} training points; used {train} of {points}")
    try:
        first = warm_up(spec, points, train)
    except Exception as err:  # a detector that cannot run here is reported, not fatal
        notes.append(f"{tag}: skipped, it cannot be fitted here ({type(err).__name__}: {err})")
        return []
    budget = Budget(st.budget_s, spent_s=first, loop_cost=first)
    rows: list[Row] = []
    for n_series in st.series:
        _probe(spec, budget, n_series, points, train)
        scale = _pick_scale(budget, n_series, train, min_train)
        if scale is None:
            est = budget.estimate(n_series, 1.0)
            notes.append(
                f"{tag}: {n_series} series and more skipped: estimated {est:.0f} s > "
                f"{budget.left_s:.0f} s left of --budget-s {st.budget_s:g}"
            )
            break
        p, tr = int(points * scale), int(train * scale)
        n_loop = budget.loop_n(n_series, scale)
        if scale < 1:
            notes.append(f"{tag}: {n_series} series run with {p} points ({tr} train) for budget")
        _progress(f"{tag}: {n_series} series x {p} points (one by one on {n_loop}) ...")
        t0 = time.perf_counter()
        row = measure(spec, n_series, n_loop, p, tr, st)
        budget.spent_s += time.perf_counter() - t0
        budget.loop_cost = _per_series(row, row.fit_loop_s, row.score_loop_wps, row.stream_loop_ups)
        budget.loop_cost /= scale
        budget.batch_cost = _per_series(
            row, row.fit_batch_s, row.score_batch_wps, row.stream_batch_ups
        )
        budget.batch_cost /= scale
        budget.batch_at = n_series
        rows.append(row)
    _progress(f"{tag}: done, {budget.spent_s:.1f} s")
    return rows


def _probe(spec: Spec, budget: Budget, n_series: int, points: int, train: int) -> None:
    """Refine a batched estimate that looks too long: batching usually costs less per series
    with more series, so fit and score 10x the last batch size (untimed in the table) while
    that takes at most a quarter of the budget left, and keep its cost per series."""
    while budget.estimate(n_series, 1.0) > budget.left_s:
        m = min(10 * budget.batch_at, n_series // 2)
        if m <= budget.batch_at or m * (budget.batch_cost or budget.loop_cost) > budget.left_s / 4:
            return
        _progress(f"{spec.name} ({spec.device}): probing fit_many/score_many on {m} series ...")
        values = make_series(m, points, seed=97)
        dets = [spec.create() for _ in values]
        t0 = time.perf_counter()
        spec.cls.fit_many([(d, x[:train]) for d, x in zip(dets, values, strict=True)])
        spec.cls.score_many(list(zip(dets, values, strict=True)))
        took = time.perf_counter() - t0
        budget.spent_s += took
        budget.batch_cost, budget.batch_at = took / m, m


def _pick_scale(budget: Budget, n_series: int, train: int, min_train: int) -> float | None:
    for scale in POINT_SCALES:
        if int(train * scale) >= min_train and budget.estimate(n_series, scale) <= budget.left_s:
            return scale
    return None


def _per_series(row: Row, fit_s: float, score_wps: float, stream_ups: float) -> float:
    """Seconds per series: fit, scoring (``points`` windows at most) and one stream update."""
    return fit_s + row.points / score_wps + 1.0 / stream_ups


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- output
def fmt_seconds(s: float) -> str:
    """Three significant figures; m = milliseconds, u = microseconds."""
    if s >= 1:
        return f"{s:.3g}"
    if s >= 1e-3:
        return f"{s * 1e3:.3g}m"
    return f"{s * 1e6:.3g}u"


def fmt_rate(r: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if r >= div:
            return f"{r / div:.3g}{unit}"
    return f"{r:.3g}"


HEADER = (
    ("detector", "<", 10),
    ("dev", "<", 4),
    ("series", ">", 6),
    ("points", ">", 6),
    ("loop n", ">", 9),
    ("fit s/ser 1x1", ">", 13),
    ("batched", ">", 8),
    ("ratio", ">", 6),
    ("score win/s 1x1", ">", 15),
    ("batched", ">", 8),
    ("ratio", ">", 6),
    ("stream upd/s 1x1", ">", 16),
    ("batched", ">", 8),
    ("ratio", ">", 6),
    ("same", "<", 7),
)


def table(rows: Sequence[Row]) -> str:
    """Plain fixed-width table; a ``*`` marks THEMIS numbers from random weights."""
    lines = [" ".join(f"{h:{a}{w}}" for h, a, w in HEADER).rstrip()]
    for r in rows:
        cells = (
            r.detector + ("*" if r.label else ""),
            r.device,
            str(r.series),
            str(r.points),
            f"{r.loop_series}/{r.series}",
            fmt_seconds(r.fit_loop_s),
            fmt_seconds(r.fit_batch_s),
            f"{r.fit_ratio:.2f}",
            fmt_rate(r.score_loop_wps),
            fmt_rate(r.score_batch_wps),
            f"{r.score_ratio:.2f}",
            fmt_rate(r.stream_loop_ups),
            fmt_rate(r.stream_batch_ups),
            f"{r.stream_ratio:.2f}",
            "yes" if r.same else f"{r.max_diff:.1e}",
        )
        cols = zip(cells, HEADER, strict=True)
        lines.append(" ".join(f"{c:{a}{w}}" for c, (_, a, w) in cols).rstrip())
    return "\n".join(lines)


def environment(threads: int, cuda_used: bool) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "cuda_available": cuda,
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
        "cuda_used": cuda_used,
    }


# ---------------------------------------------------------------------------------- setup
def parse_params(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["lof.n_neighbors=10"]`` -> ``{"lof": {"n_neighbors": 10}}`` (numbers parsed)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        name, dot, pname = key.partition(".")
        if not (eq and dot and name and pname):
            raise SystemExit(f"--param must look like NAME.KEY=VALUE. Got {item!r} instead.")
        value: Any = raw
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                pass
        out.setdefault(name, {})[pname] = value
    return out


def themis_model(args: argparse.Namespace, stack: ExitStack, notes: list[str]) -> tuple[str, str]:
    """(model path, label) for THEMIS, or ("", reason) when it cannot run."""
    if importlib.util.find_spec("chronos") is None:
        return "", "themis: skipped, the `chronos` extra is not installed"
    if args.themis_model:
        return args.themis_model, RANDOM_LABEL if args.themis_random else ""
    if not args.themis_tiny:
        return "", (
            "themis: skipped, it needs a Chronos checkpoint and the Hub is unreachable "
            "(--themis-model PATH, or --themis-tiny for random weights: speed only)"
        )
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests/ is not an installed package
    from tests.unit.detectors.chronos_tiny import build_tiny_chronos_bolt

    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chronos-tiny-")))
    sizes = {"d_model": 64, "num_layers": 2} if args.quick else {"d_model": 256, "num_layers": 4}
    path = build_tiny_chronos_bolt(scratch / "model", **sizes)
    notes.append(
        f"themis: {RANDOM_LABEL} (random Chronos-Bolt, d_model {sizes['d_model']}, "
        f"{sizes['num_layers']} layers)"
    )
    return str(path), RANDOM_LABEL


def build_specs(
    args: argparse.Namespace, stack: ExitStack, notes: list[str]
) -> tuple[list[Spec], bool]:
    """Specs to run (detector x device) and whether any of them uses CUDA."""
    known = registry.names()
    wanted = args.detectors.split(",") if args.detectors else known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise SystemExit(f"Unknown detector(s) {', '.join(unknown)}. Known: {', '.join(known)}.")
    overrides = parse_params(args.param)
    cuda = torch.cuda.is_available()
    if args.devices == "cuda" and not cuda:
        raise SystemExit("--devices cuda, but torch sees no CUDA device.")
    devices = {"auto": ["cpu", "cuda"] if cuda else ["cpu"], "cpu": ["cpu"], "cuda": ["cuda"]}
    specs: list[Spec] = []
    for name in wanted:
        params, label = dict(overrides.get(name, {})), ""
        if name == "themis":
            model, label = themis_model(args, stack, notes)
            if not model:
                notes.append(label)
                continue
            params["model"] = model
        takes_device = any(p.name == "device" for p in registry.get_class(name).params)
        for dev in devices[args.devices] if takes_device else ["cpu"]:
            extra = {"device": dev} if takes_device else {}
            specs.append(Spec(name, dev, {**params, **extra}, label))
    return specs, any(s.device == "cuda" for s in specs)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--detectors", default="", help="comma-separated names (default: all)")
    p.add_argument("--series", default="1,100,1000", help="comma-separated series counts")
    p.add_argument("--points", type=int, default=2000, help="points per series")
    p.add_argument("--train", type=int, default=1000, help="training prefix per series")
    p.add_argument("--budget-s", type=float, default=120.0, help="seconds per detector+device")
    p.add_argument("--min-time", type=float, default=0.5, help="repeat phases shorter than this")
    p.add_argument("--stream-updates", type=int, default=5, help="streaming rounds (best kept)")
    p.add_argument("--devices", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default 1)")
    p.add_argument("--param", action="append", default=[], help="NAME.KEY=VALUE (repeatable)")
    p.add_argument("--themis-model", default="", help="Chronos-Bolt checkpoint directory")
    p.add_argument("--themis-tiny", action="store_true", help="build a random tiny checkpoint")
    p.add_argument("--themis-random", action="store_true", help="--themis-model is random")
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.series, args.points, args.train = "1,3", 300, 200
        args.budget_s, args.min_time, args.stream_updates = min(args.budget_s, 20.0), 0.0, 2
    series = sorted({int(s) for s in args.series.split(",") if s.strip()})
    if not series or series[0] < 1 or not 0 < args.train < args.points:
        raise SystemExit("--series must be positive counts and 0 < --train < --points.")
    st = Settings(
        series, args.points, args.train, args.budget_s, args.min_time, max(args.stream_updates, 1)
    )
    threads = args.threads or 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on an unreachable Hub
    torch.set_num_threads(threads)
    notes: list[str] = []
    rows: list[Row] = []
    t_start = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=threads))
        specs, cuda_used = build_specs(args, stack, notes)
        env = environment(threads, cuda_used)
        for spec in specs:
            rows += run_spec(spec, st, notes)
    print(_header(env, st))
    print(table(rows))
    if any(r.label for r in rows):
        print(f"* {RANDOM_LABEL}")
    for note in notes:
        print(f"note: {note}")
    print(f"total {time.perf_counter() - t_start:.1f} s")
    if args.json:
        doc = {"environment": env, "settings": asdict(st), "rows": [asdict(r) for r in rows]}
        doc["notes"] = notes
        Path(args.json).write_text(json.dumps(doc, indent=1, allow_nan=True))
    return 0


def _header(env: dict[str, Any], st: Settings) -> str:
    if env["cuda_used"]:
        cuda = f"CUDA used: {env['cuda_device']} (detectors with a `device` parameter)"
    elif env["cuda_available"]:
        cuda = f"CUDA available ({env['cuda_device']}) but not used (--devices cpu)"
    else:
        cuda = "CUDA not available: CPU only"
    return (
        f"anomalyd detector speed: python {env['python']}, numpy {env['numpy']}, "
        f"torch {env['torch']}, {env['cpu_count']} CPUs, {env['threads']} thread(s); {cuda}\n"
        f"{st.points} points per series ({st.train} train), budget {st.budget_s:g} s per "
        "detector and device; ratio = batched speed / one-by-one speed (> 1: batching faster); "
        "units: m = milli, u = micro"
    )


if __name__ == "__main__":
    raise SystemExit(main())
