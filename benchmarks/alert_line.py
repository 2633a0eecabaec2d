"""Where to put the alert line: calibration strategies compared on the development benchmark.

Every labelled univariate series of ../shared/benchmark is fitted once on its training prefix
(rows ``[0, train_end)``) and scored causally; the alert line is then fitted from three kinds of
calibration scores and three target quantiles, and the alerts ``anomaly_score > 1`` on rows
``[train_end:]`` are measured (VUS window per series from ``anomalyd.metrics.sliding_window``):

* ``today``: the former line, the ``quantile`` of the model's in-sample training scores (the
  named baseline);
* ``in-sample``: the peaks-over-threshold line fitted on the same in-sample scores;
* ``holdout``: a copy fitted on the first 70% of the prefix scores the last 30%;
* ``crossfit``: ``anomalyd.detectors.crossfit`` (3 contiguous folds, each scored by a copy fitted
  without it): the service's default.

Printed per candidate: false-alarm rate (alerts on normal points farther than the window from
any label; mean and median over series), event recall (events with an alert inside or within
the window after), PATE-F1 of the alerts. Then the choice by cross-validation over sources:
for each pair of sources, the candidate with the best mean PATE-F1 among those whose median
false-alarm rate is <= 1% there, measured on the other two sources. And the precision of the
default's alerts per severity band (an alert is "real" inside an event or within the window
after it).

    python benchmarks/alert_line.py [--detector ensemble] [--jobs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _suite import add_suite_args, candidate_column, labelled_univariate, per_series  # noqa: E402

from anomalyd import metrics  # noqa: E402
from anomalyd.detectors import DEFAULT_DETECTOR, Calibrator, registry  # noqa: E402
from anomalyd.detectors.crossfit import _out_of_sample  # noqa: E402
from anomalyd.service.suite import LabelledSeries  # noqa: E402

QUANTILES = (0.99, 0.995, 0.999)
STRATEGIES = ("today", "in-sample", "holdout", "crossfit")
BANDS = ((1.0, 2.0), (2.0, 3.0), (3.0, np.inf))
DEFAULT = ("crossfit", 0.995)


def calibration_scores(det: Any, name: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """The scores each strategy fits its line on (``today`` and ``in-sample`` share them)."""
    inside = det.score(x)
    out = {"today": inside, "in-sample": inside}
    cut = int(len(x) * 0.7)
    try:
        probe = registry.create(name, det.get_params()).fit(x[:cut])
        out["holdout"] = probe.score(x)[cut:]
    except ValueError:
        out["holdout"] = inside
    found, _ = _out_of_sample([det], [x], 3)[0]
    out["crossfit"] = inside if found is None else found
    return out


def alarms_of(strategy: str, q: float, cal_scores: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Per-point anomaly_score of ``raw`` under one candidate line (> 1 = alert)."""
    finite = cal_scores[np.isfinite(cal_scores)]
    if strategy == "today":
        med, top = float(np.median(finite)), float(np.quantile(finite, q))
        return np.maximum((raw - med) / max(top - med, 1e-9 * max(1.0, abs(med))), 0.0)
    return Calibrator(quantile=q).fit(finite).transform(raw)


def measure(labels: np.ndarray, score: np.ndarray, window: int) -> dict[str, float]:
    alarms = np.nan_to_num(score, nan=0.0) > 1.0
    out = dict(metrics.alert_metrics(labels, alarms, window=window))
    out["pate_f1"] = metrics.pate_f1(
        labels, alarms.astype(np.int64), e_buffer=window, d_buffer=window, include_zero=False
    )
    return out


def near_events(labels: np.ndarray, window: int) -> np.ndarray:
    """Points inside an event or within ``window`` points after one."""
    idx = np.flatnonzero(labels)
    near = np.zeros(len(labels), dtype=bool)
    for i in idx:
        near[i : i + window + 1] = True
    return near


def bands(labels: np.ndarray, score: np.ndarray, window: int) -> list[tuple[int, int]]:
    """(alerts, real alerts) per severity band."""
    s, near = np.nan_to_num(score, nan=0.0), near_events(labels, window)
    return [(int(((s > lo) & (s <= hi)).sum()), int(((s > lo) & (s <= hi) & near).sum()))
            for lo, hi in BANDS]  # fmt: skip


def one_series(series: LabelledSeries, name: str) -> dict[str, Any]:
    """Every candidate's figures on one series."""
    x = series.values[: series.train_end]
    det = registry.create(name).fit(x)
    raw = det.score(series.values)[series.train_end :]
    labels = series.labels[series.train_end :]
    window = metrics.sliding_window(series.values[:, 0])
    out: dict[str, Any] = {"source": series.source, "candidates": {}}
    for strategy, sc in calibration_scores(det, name, x).items():
        for q in QUANTILES:
            score = alarms_of(strategy, q, sc, raw)
            out["candidates"][f"{strategy}@{q}"] = measure(labels, score, window)
            if (strategy, q) == DEFAULT:
                out["bands"] = bands(labels, score, window)
    return out


def summary(per: dict[str, dict[str, Any]], sources: set[str], cand: str) -> dict[str, float]:
    """One candidate's false alarms, event recall and PATE-F1 over the series of ``sources``."""

    def col(k: str) -> np.ndarray:
        return candidate_column(per, sources, cand, k)

    return {
        "false_alarm_mean": float(col("false_alarm_rate").mean()),
        "false_alarm_median": float(np.median(col("false_alarm_rate"))),
        "event_recall": float(col("event_recall").mean()),
        "pate_f1": float(col("pate_f1").mean()),
        "n": sum("candidates" in v and v["source"] in sources for v in per.values()),
    }


def choose(per: dict[str, dict[str, Any]], sources: set[str], cands: list[str]) -> str:
    """Best mean PATE-F1 among candidates with median false-alarm rate <= 1% on ``sources``."""
    stats = {c: summary(per, sources, c) for c in cands}
    ok = [c for c in cands if stats[c]["false_alarm_median"] <= 0.01] or cands
    return max(ok, key=lambda c: stats[c]["pate_f1"])


def print_table(per: dict[str, dict[str, Any]], cands: list[str], sources: set[str]) -> None:
    base = summary(per, sources, "today@0.995")
    head = f"{'candidate':<22}{'FA mean':>9}{'FA med':>9}{'recall':>8}{'PATE-F1':>9}"
    print(f"{head}{'F1 vs today':>13}")
    for c in cands:
        s = summary(per, sources, c)
        ratio = s["pate_f1"] / base["pate_f1"] if base["pate_f1"] else float("nan")
        print(f"{c:<22}{s['false_alarm_mean']:>9.2%}{s['false_alarm_median']:>9.2%}"
              f"{s['event_recall']:>8.2f}{s['pate_f1']:>9.3f}{ratio:>12.2f}x")  # fmt: skip


def print_cv(per: dict[str, dict[str, Any]], cands: list[str], sources: list[str]) -> list[str]:
    print("\ncross-validation: choose on two sources, measure on the other two")
    chosen = []
    for pick in itertools.combinations(sources, 2):
        rest = set(sources) - set(pick)
        c = choose(per, set(pick), cands)
        s = summary(per, rest, c)
        chosen.append(c)
        print(f"  chose on {'+'.join(pick):<10} -> {c:<18} on {'+'.join(sorted(rest)):<10} "
              f"FA med {s['false_alarm_median']:.2%}  recall {s['event_recall']:.2f}  "
              f"PATE-F1 {s['pate_f1']:.3f}")  # fmt: skip
    return chosen


def print_bands(per: dict[str, dict[str, Any]]) -> None:
    total = np.sum([v["bands"] for v in per.values() if "bands" in v], axis=0)
    print(f"\nprecision per severity band ({DEFAULT[0]} line, quantile {DEFAULT[1]}):")
    for (lo, hi), (n, real) in zip(BANDS, total, strict=True):
        label = f"{lo:g} < score <= {hi:g}" if np.isfinite(hi) else f"score > {lo:g}"
        share = real / max(n, 1)
        print(f"  {label:<20} alerts {n:>7}  near an event {real:>7}  precision {share:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_suite_args(parser)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    suite = labelled_univariate(args)
    if suite is None:
        return 0
    per = per_series(partial(one_series, name=args.detector), suite, args.jobs)
    if args.json is not None:
        args.json.write_text(json.dumps(per, indent=1))
    sources = sorted({v["source"] for v in per.values() if "candidates" in v})
    cands = [f"{s}@{q}" for s in STRATEGIES for q in QUANTILES]
    errors = sum("error" in v for v in per.values())
    print(f"{len(per)} series ({errors} could not be fitted), detector {args.detector}, "
          f"sources {', '.join(sources)}; baseline: today@0.995 (in-sample line)")  # fmt: skip
    print_table(per, cands, set(sources))
    print_cv(per, cands, sources)
    print_bands(per)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
