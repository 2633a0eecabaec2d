"""An honest VUS-PR for the default ensemble: the out-of-fold score of the procedure that
chooses its members.

A figure chosen on the series it is reported on is optimistic. This benchmark measures the
*selection procedure* instead. Every candidate window member (``CANDIDATES``) is fitted once
per labelled univariate series of the development benchmark and its standardised scores kept
(``--cache``, keyed by the series' values and training span, the detectors' source and this
script: a change to any of them recomputes); any member set is then re-joined from them
exactly as the ensemble joins it.
The procedure, greedy forward selection of window members from ``--start`` (``START``: the
32-point LOF, which every choice keeps because the everyday alert benchmark misses events
without it) up to ``--max-size`` members (the point member as in the default, or none), is run

* **leave one source out**: chosen on three sources, measured on the fourth, each in turn; the
  mean over all series of the held-out scores is the honest figure;
* **random halves** (second view): within every source half the series choose and the other
  half measure, ``--repeats`` times.

The same procedures pick among TSB-AD's detectors (their per-series VUS-PR on this split,
``reference/tsbad_detectors_this_split_dev.csv``), so the peers' honest figure stands beside
ours; each peer's own mean (no choice made) is printed too, with the current default's (its
members were chosen earlier on these same series: in-sample).

How a member set is re-joined (``anomalyd.detectors.crossfit`` and ``Ensemble``): each member's
scores are standardised by its own training median and ``Ensemble.quantile`` quantile; the
window members' part is their mean; with a point member both parts are balanced by their
out-of-sample (cross-fitted, 3 folds) quantile at the alert quantile 0.995, over the points
where both parts have a score (the ensemble scores its point member only where every window
member has its context), and joined at the gate. Rows ``[train_end:]`` are measured, warm-up
ranked lowest, VUS window from ``anomalyd.metrics.sliding_window``, as ``anomalyd evaluate``
does (``--check`` compares).

TSB-AD's detectors put a window's score on its centre (or average every window holding a
point): half a window or more of look-ahead. With ``--peer-scores DIR`` (their scores re-run by
``benchmarks/tsbad_scores.py``, in TSB-AD's own environment) the peers are also measured as
re-run (which should reproduce the published figures) and placed causally: each score moved
later by its placement's look-ahead, so that no window's score lands before the window ends, as
ours. Their fits still see the whole series (TSB-AD's protocol), ours the training span only.

    python benchmarks/selection_cv.py --jobs 2 [--cache DIR] [--match NAB] [--check 4]
        [--peer-scores DIR]
        [--extra SPECS]   # more candidates than CANDIDATES
        [--candidates SPECS]   # other candidates than CANDIDATES (e.g. the default's members)
        [--start '' --max-size 5]   # no member kept, at most five
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _suite import add_suite_args, labelled_univariate, per_series  # noqa: E402

from anomalyd import metrics  # noqa: E402
from anomalyd.detectors import ensemble as ensemble_module  # noqa: E402
from anomalyd.detectors.crossfit import (  # noqa: E402
    CALIBRATION_FOLDS,
    MIN_CALIBRATION_SCORES,
    fold_bounds,
    is_constant,
)
from anomalyd.detectors.ensemble import (  # noqa: E402
    DEFAULT_MEMBERS,
    DEFAULT_POINT,
    Ensemble,
    gated_join,
    parse_members,
    part_scales,
)
from anomalyd.service.evaluation import evaluate_series, fill_warmup, load_reference  # noqa: E402
from anomalyd.service.suite import LabelledSeries  # noqa: E402

#: the candidate window members (the default's among them) from the registry
CANDIDATES = (
    "lof:32:max_train_windows=3000",
    "lof:64:max_train_windows=3000",
    "lof:auto:normalize=window:max_train_windows=2000",
    "subpca:64",
    "ae:32",
    "ae:64",
    "ae:128",
    "ae:auto",
    "lof:16:max_train_windows=3000",
    "lof:128:max_train_windows=2000",
    "lof:auto:max_train_windows=2000",
    "subpca:32",
    "subpca:auto:normalize=window",
    "iforest:64",
    "mad:64",
    "kmeans:32:normalize=window",
    "kmeans:64:normalize=window",
    "kmeans:auto:normalize=window",
    "kmeans:64",
    DEFAULT_POINT,  # the point member's forecast residual, as a window member
)
#: what every choice keeps: the short LOF, without which the everyday alert benchmark
#: (``alert_quality.py``) misses events; and the most members a choice has
START = "lof:32:max_train_windows=3000"
MAX_SIZE = 6
ALERT_QUANTILE = 0.995
CACHE = Path.home() / ".cache" / "anomalyd" / "selection_cv"
KEY_FIELD = "_key"  # the cache key each file was computed under

Arrays = dict[str, np.ndarray]
Config = tuple[frozenset[str], str, str]  # (window members, point member or "", combination)


# ---- per series: every candidate's standardised scores, computed once and cached ----


def _member_z(ens: Ensemble, x: np.ndarray) -> np.ndarray:
    """The one member of ``ens`` standardised on ``x``: shape (n_points,), NaN unscored."""
    raw = ens.members_[0].score(x)
    z = np.full(len(x), np.nan)
    z[len(x) - len(raw) :] = (raw - ens.center_[0]) / ens.scale_[0]
    return z


def _fit_one(spec: str, train: np.ndarray) -> Ensemble | None:
    try:
        return Ensemble(members=spec, point="").fit(train)
    except ValueError:
        return None


def _out_of_sample(spec: str, train: np.ndarray) -> np.ndarray:
    """The member's cross-fitted scores of the training span (NaN where a fold could not fit),
    as ``crossfit._out_of_sample`` makes them; all NaN for a constant span."""
    out = np.full(len(train), np.nan)
    valid = ~np.isnan(train).any(axis=1)
    for start, stop in fold_bounds(len(train), CALIBRATION_FOLDS):
        rest = np.concatenate([train[:start][valid[:start]], train[stop:][valid[stop:]]])
        masked = train.copy()
        masked[start:stop] = np.nan
        fold = None if is_constant(rest) else _fit_one(spec, masked)
        if fold is not None and len(rest) >= fold.min_train_points():
            ctx = fold.context_length
            out[start:stop] = _member_z(fold, train[max(start - ctx, 0) : stop])[-(stop - start) :]
    return out


def _member_arrays(spec: str, series: LabelledSeries) -> Arrays:
    """``{"test": z of rows [train_end:], "oos": cross-fitted z of the training span}``."""
    train = series.values[: series.train_end]
    full = _fit_one(spec, train)
    if full is None:
        n = len(series.values) - series.train_end
        return {"test": np.full(n, np.nan), "oos": np.full(len(train), np.nan)}
    test = _member_z(full, series.values)[series.train_end :]
    oos = np.full(len(train), np.nan) if is_constant(train) else _out_of_sample(spec, train)
    return {"test": test, "oos": oos}


@functools.cache
def _code_digest() -> str:
    """SHA-256 of the detectors' source files and of this script: scores cached by other code
    are not reused (any edit there, a docstring too, recomputes every series)."""
    digest = hashlib.sha256()
    for path in [*sorted(Path(ensemble_module.__file__).parent.rglob("*.py")), Path(__file__)]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def cache_key(series: LabelledSeries) -> str:
    """What cached scores of ``series`` depend on: its values, training span and the code."""
    digest = hashlib.sha256(np.ascontiguousarray(series.values, dtype=np.float64).tobytes())
    digest.update(f"{series.values.shape}|{series.train_end}|{_code_digest()}".encode())
    return digest.hexdigest()


def _load_cached(path: Path, key: str) -> dict[str, np.ndarray]:
    """The arrays kept at ``path`` when they were computed under ``key``, else none."""
    if not path.exists():
        return {}
    found = dict(np.load(path))
    if str(found.pop(KEY_FIELD, "")) != key:
        print(f"{path.name}: cached with other data or code; recomputing", file=sys.stderr)
        return {}
    return found


def cached_arrays(series: LabelledSeries, specs: Sequence[str], cache: Path) -> dict[str, Arrays]:
    """Every spec's arrays of ``series``, computed where ``cache`` lacks them (and kept)."""
    path, key = cache / f"{series.name}.npz", cache_key(series)
    found = _load_cached(path, key)
    missing = [s for s in specs if f"{s}|test" not in found]
    for spec in missing:
        found.update({f"{spec}|{k}": v for k, v in _member_arrays(spec, series).items()})
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".tmp.npz"), **found, **{KEY_FIELD: np.array(key)})  # type: ignore[arg-type]
        path.with_suffix(".tmp.npz").replace(path)
    return {s: {k: found[f"{s}|{k}"] for k in ("test", "oos")} for s in specs}


def series_table(series: LabelledSeries, specs: Sequence[str], cache: Path) -> dict[str, Any]:
    """What the selection needs of one series (kept in memory by the parent)."""
    arrays = cached_arrays(series, specs, cache)
    return {
        "source": series.source,
        "arrays": arrays,
        "labels": series.labels[series.train_end :],
        "window": int(metrics.sliding_window(series.values[:, 0])),
    }


# ---- re-joining a member set ----

#: label-free ways to join the window members' standardised scores (the procedure tries these)
COMBINATIONS = ("mean", "median", "trimmed")
#: every way ``_combine`` knows (``--combinations`` picks among them)
KNOWN_COMBINATIONS = (*COMBINATIONS, "max", "top2")


def _combine(arrays: dict[str, Arrays], members: Iterable[str], key: str, how: str) -> np.ndarray:
    """The members' scores joined ``how``: mean, median, the mean without the highest and
    lowest member (three members or more), max, or the mean of the two highest; NaN where a
    member has none."""
    stack = np.array([arrays[m][key] for m in sorted(members)])
    if how == "max":
        return stack.max(axis=0)
    if how == "top2" and len(stack) >= 2:
        return np.sort(stack, axis=0)[-2:].mean(axis=0)
    if how == "median":
        return np.median(stack, axis=0)
    if how == "trimmed" and len(stack) >= 3:
        return (stack.sum(axis=0) - stack.max(axis=0) - stack.min(axis=0)) / (len(stack) - 2)
    return stack.mean(axis=0)


def joined(arrays: dict[str, Arrays], config: Config, gate: float = 1.0) -> np.ndarray:
    """The ensemble's score of the measured rows for ``config`` (``gated_join`` at the
    ``part_scales`` of the out-of-sample points where both parts have a score, as
    ``Ensemble.balance_parts`` sees them; the scales stay 1 when fewer than
    ``MIN_CALIBRATION_SCORES`` such points exist, as in ``crossfit``)."""
    members, point, how = config
    mean = _combine(arrays, members, "test", how)
    if not point:
        return mean
    oos = np.column_stack([_combine(arrays, members, "oos", how), arrays[point]["oos"]])
    both = np.isfinite(oos).all(axis=1)  # the ensemble scores its point member only here
    ok = int(both.sum()) >= MIN_CALIBRATION_SCORES
    scale = part_scales(oos[both], ALERT_QUANTILE) if ok else np.ones(2)
    return gated_join(mean, arrays[point]["test"], scale, gate)


class Scores:
    """VUS-PR of any member set on any series, memoised."""

    def __init__(self, tables: dict[str, dict[str, Any]]) -> None:
        self.tables = tables
        self.source_of = {n: t["source"] for n, t in tables.items()}

    @functools.cache  # noqa: B019 (one instance per run)
    def vus(self, name: str, config: Config) -> float:
        t = self.tables[name]
        return _measured_vus(t, joined(t["arrays"], config))

    def mean(self, names: Sequence[str], config: Config) -> float:
        return float(np.mean([self.vus(n, config) for n in names]))


# ---- the selection procedure and its folds ----

Choose = Callable[[Sequence[str]], Any]
TableMean = Callable[[Sequence[str], Any], float]


def greedy(
    scores: Scores,
    names: Sequence[str],
    config: Config,
    max_size: int,
    candidates: Sequence[str] = CANDIDATES,
) -> Config:
    """Forward selection of window members on ``names`` (``config``: the members to start from,
    the point member, the combination): add the candidate that raises the mean VUS-PR most,
    while it rises (at most ``max_size`` members)."""
    chosen, point, how = config
    best = scores.mean(names, config) if chosen else -1.0
    while len(chosen) < max_size:
        rest = [c for c in candidates if c not in chosen]
        if not rest:
            break
        value, pick = max((scores.mean(names, (chosen | {c}, point, how)), c) for c in rest)
        if value <= best:
            break
        chosen, best = chosen | {pick}, value
    return chosen, point, how


def procedure(
    scores: Scores,
    point: str,
    max_size: int,
    combinations: Sequence[str] = COMBINATIONS,
    candidates: Sequence[str] = CANDIDATES,
    start: frozenset[str] = frozenset(),
) -> Choose:
    """Members by ``greedy`` among ``candidates``, from the members ``start`` (every choice
    keeps them; ``max_size`` counts them), for every combination; the combination best on the
    choosing series."""

    def choose(names: Sequence[str]) -> Config:
        found = [
            greedy(scores, names, (start, point, how), max_size, candidates) for how in combinations
        ]
        return max(found, key=lambda config: scores.mean(names, config))

    return choose


def leave_one_source_out(
    choose: Choose, table_mean: TableMean, source_of: dict[str, str]
) -> dict[str, Any]:
    """Per source: what ``choose`` picks on the others and its mean there; ``"oof"``: the
    mean over all series of the held-out scores."""
    held, picks = {}, {}
    for src in sorted(set(source_of.values())):
        fit = [n for n, s in source_of.items() if s != src]
        test = [n for n, s in source_of.items() if s == src]
        picks[src] = choose(fit)
        held[src] = (table_mean(test, picks[src]), len(test))
    total = sum(v * k for v, k in held.values()) / sum(k for _, k in held.values())
    return {"picks": picks, "held": held, "oof": total}


def random_halves(
    choose: Choose, table_mean: TableMean, source_of: dict[str, str], repeats: int
) -> list[float]:
    """Held-out means of choosing on a random half of every source, ``repeats`` times."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(repeats):
        fit: list[str] = []
        test: list[str] = []
        for src in sorted(set(source_of.values())):
            names = [n for n, s in source_of.items() if s == src]
            order = rng.permutation(len(names))
            fit += [names[i] for i in order[: len(names) // 2]]
            test += [names[i] for i in order[len(names) // 2 :]]
        out.append(table_mean(test, choose(fit)))
    return out


def report(
    label: str, choose: Choose, table_mean: TableMean, source_of: dict[str, str], repeats: int
) -> None:
    """Print one procedure's out-of-fold figures and what it chose."""
    loso = leave_one_source_out(choose, table_mean, source_of)
    halves = random_halves(choose, table_mean, source_of, repeats)
    spread = f"median {np.median(halves):.3f} [{min(halves):.3f}, {max(halves):.3f}]"
    print(f"{label}:\n  out of fold, leave one source out: {loso['oof']:.3f}; "
          f"random halves ({repeats}x): {spread}")  # fmt: skip
    for src, (value, n) in loso["held"].items():
        print(f"    {src:<5} ({n:>3} series) {value:.3f}  chosen on the others: "
              f"{show(loso['picks'][src])}")  # fmt: skip
    everything = choose(sorted(source_of))
    print(f"  chosen on all series (in-sample): {table_mean(sorted(source_of), everything):.3f}"
          f" with {show(everything)}")  # fmt: skip


def show(config: Any) -> str:
    """A config (ours, or a peer's name) as text."""
    if isinstance(config, str):
        return config
    members, point, how = config
    return f"{how} of " + " + ".join(sorted(members)) + (f" | point {point}" if point else "")


# ---- main ----


def _tables(
    args: argparse.Namespace, suite: list[LabelledSeries], candidates: Sequence[str]
) -> dict[str, dict[str, Any]]:
    fn = functools.partial(series_table, specs=table_specs(candidates), cache=args.cache)
    found = per_series(fn, suite, args.jobs)
    for name, t in found.items():
        if "error" in t:
            print(f"skipped {name}: {t['error']}")
    return {n: t for n, t in found.items() if "error" not in t}


def _peers(args: argparse.Namespace, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """{TSB-AD detector: {series: VUS-PR}} over the series every peer has a figure for."""
    reference = load_reference(args.suite)
    covered = [n for n in names if all(n in per for per in reference.values())]
    return {d: {n: per[n] for n in covered} for d, per in sorted(reference.items())}


def per_source(table_mean: TableMean, config: Any, source_of: dict[str, str]) -> str:
    """``table_mean`` of ``config`` overall and per source, as text."""
    names = sorted(source_of)
    sources = sorted(set(source_of.values()))
    parts = [
        f"{s} {table_mean([n for n in names if source_of[n] == s], config):.3f}" for s in sources
    ]
    return f"{table_mean(names, config):.3f}   " + "  ".join(parts)


def print_peers(
    peers: dict[str, dict[str, float]],
    source_of: dict[str, str],
    repeats: int,
    how: str = "each as published",
) -> None:
    """Each peer's mean (no choice made) overall and per source, then the peers' procedure."""
    covered = {n: source_of[n] for n in peers[min(peers)]}

    def peer_mean(names: Sequence[str], detector: str) -> float:
        return float(np.mean([peers[detector][n] for n in names]))

    print(f"TSB-AD peers on {len(covered)} of these series ({how}, no choice made):")
    for d in peers:
        print(f"  {d:<14} {per_source(peer_mean, d, covered)}")
    report(f"peers' procedure ({how}; the TSB-AD detector best on the choosing series)",
           lambda names: max(peers, key=lambda d: peer_mean(names, d)), peer_mean, covered,
           repeats)  # fmt: skip


#: how ``placed_peers`` labels the peers' re-run figures
PLACED, CAUSAL = "re-run, as TSB-AD places scores", "re-run, placed causally"


def placed_peers(
    folder: Path, tables: dict[str, dict[str, Any]], names: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """VUS-PR of the peers' re-run scores in ``folder`` (``benchmarks/tsbad_scores.py``) over
    the series of ``names`` every peer has a score of: ``{PLACED: {detector: {series:
    VUS-PR}}, CAUSAL: ...}``, as TSB-AD places the scores and placed causally. Raises
    ValueError when no series of ``names`` has a score of every peer found."""
    files = {p.stem: p for p in folder.glob("*__*.npz")}
    detectors = sorted({stem.rsplit("__", 1)[1] for stem in files})
    covered = [n for n in names if all(f"{n}__{d}" in files for d in detectors)]
    if not detectors or not covered:
        raise ValueError(f"No series has a score of every peer in {folder} (tsbad_scores.py).")
    out: dict[str, dict[str, dict[str, float]]] = {PLACED: {}, CAUSAL: {}}
    for d in detectors:
        for n in covered:
            found = np.load(files[f"{n}__{d}"])
            moved = causal_placement(found["score"], int(found["lookahead"]))
            out[PLACED].setdefault(d, {})[n] = _measured_vus(tables[n], found["score"])
            out[CAUSAL].setdefault(d, {})[n] = _measured_vus(tables[n], moved)
    return out


def causal_placement(score: np.ndarray, lookahead: int) -> np.ndarray:
    """``score`` (shape (n_points,)) moved ``lookahead`` points later, its first value
    repeated in front: no window's score then lands before the window ends."""
    return np.concatenate([np.full(lookahead, score[0]), score[: len(score) - lookahead]])


def _measured_vus(table: dict[str, Any], score: np.ndarray) -> float:
    """VUS-PR of a whole series' ``score`` on its measured rows (the last ones)."""
    measured = fill_warmup(score[len(score) - len(table["labels"]) :])
    return float(metrics.vus_pr(table["labels"], measured, window=table["window"]))


def check(suite: list[LabelledSeries], scores: Scores, count: int) -> None:
    """The re-join against ``anomalyd evaluate``'s VUS-PR of the default on ``count`` series."""
    for series in suite[:: max(1, len(suite) // count)][:count]:
        direct = evaluate_series(series, "ensemble", {}, quantile=ALERT_QUANTILE)["vus_pr"]
        print(f"  check {series.name}: re-joined {scores.vus(series.name, DEFAULT):.6f}, "
              f"anomalyd evaluate {direct:.6f}")  # fmt: skip


DEFAULT: Config = (frozenset(DEFAULT_MEMBERS.split(",")), DEFAULT_POINT, "mean")


def table_specs(candidates: Sequence[str]) -> tuple[str, ...]:
    """What is scored per series: the candidates, and the current default's members and point
    member (its line and ``--check`` re-join it whatever the candidates)."""
    return tuple(dict.fromkeys((*candidates, *sorted(DEFAULT[0]), DEFAULT_POINT)))


def _specs(parser: argparse.ArgumentParser, flag: str, text: str) -> list[str]:
    """The comma-separated member specs of ``flag``, checked by the ensemble's parser."""
    specs = [spec.strip() for spec in text.split(",") if spec.strip()]
    try:
        if specs:
            parse_members(",".join(specs))
    except ValueError as exc:
        parser.error(f"{flag}: {exc}")
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_suite_args(parser)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--max-size", type=int, default=MAX_SIZE)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=CACHE, help="member scores per series")
    parser.add_argument("--check", type=int, default=0, help="compare N series with evaluate")
    parser.add_argument(
        "--peer-scores",
        type=Path,
        help="the peers' re-run scores (benchmarks/tsbad_scores.py): also measure them as "
        "re-run and placed causally",
    )
    parser.add_argument(
        "--combinations",
        default=",".join(COMBINATIONS),
        help=f"comma-separated, among {', '.join(KNOWN_COMBINATIONS)}",
    )
    parser.add_argument(
        "--extra",
        default="",
        help="comma-separated member specs to add to the candidates (e.g. ae:32,ae:128,ae:auto)",
    )
    parser.add_argument(
        "--candidates",
        default=",".join(CANDIDATES),
        help="comma-separated member specs the procedure chooses among (default: CANDIDATES; "
        "the default's members alone compute in a fraction of the time)",
    )
    parser.add_argument(
        "--start",
        default=START,
        help="comma-separated member specs every choice keeps (greedy adds to them; "
        f"--max-size counts them; default {START}; '' for none)",
    )
    args = parser.parse_args()
    extra, start = _specs(parser, "--extra", args.extra), _specs(parser, "--start", args.start)
    listed = _specs(parser, "--candidates", args.candidates)
    if not listed:
        parser.error("--candidates names no member")
    if args.peer_scores and not args.peer_scores.is_dir():
        parser.error(f"--peer-scores: no folder {args.peer_scores} (tsbad_scores.py --out)")
    if len(set(start)) > args.max_size:
        parser.error(
            f"--start names {len(set(start))} members, more than --max-size {args.max_size}"
        )
    candidates = tuple(dict.fromkeys((*listed, *extra, *start)))
    combinations = args.combinations.split(",")
    if not set(combinations) <= set(KNOWN_COMBINATIONS):
        parser.error(f"--combinations must be among {', '.join(KNOWN_COMBINATIONS)}")
    suite = labelled_univariate(args)
    if suite is None:
        return
    scores = Scores(_tables(args, suite, candidates))
    print(f"{len(scores.tables)} series; candidate window members: {', '.join(candidates)}; "
          f"combinations: {', '.join(combinations)}")  # fmt: skip
    print(f"current default (in-sample: its members were chosen earlier on these series):\n  "
          f"{per_source(scores.mean, DEFAULT, scores.source_of)}")  # fmt: skip
    peers = _peers(args, sorted(scores.tables))
    covered = {n: scores.source_of[n] for n in peers[min(peers)]} if peers else {}
    for point in (DEFAULT_POINT, ""):
        label = f"our procedure, {'point member ' + point if point else 'no point member'}"
        label += f", keeping {', '.join(start)}" if start else ""
        choose = procedure(scores, point, args.max_size, combinations, candidates, frozenset(start))
        report(label, choose, scores.mean, scores.source_of, args.repeats)
        if covered and len(covered) < len(scores.source_of):
            report(f"{label}, on the {len(covered)} series the peers have", choose, scores.mean,
                   covered, args.repeats)  # fmt: skip
    if covered:
        print_peers(peers, scores.source_of, args.repeats)
    if covered and args.peer_scores:
        try:
            placed = placed_peers(args.peer_scores, scores.tables, sorted(covered))
        except ValueError as exc:
            parser.error(f"--peer-scores: {exc}")
        for how, found in placed.items():
            print_peers(found, scores.source_of, args.repeats, how)
    if args.check:
        check(suite, scores, args.check)


if __name__ == "__main__":
    main()
