"""How much the ensemble's point member may raise the score: ``point_gate`` chosen by
cross-validation over the development benchmark's sources.

The point member (a one-step forecast residual) catches spikes the window members average
away, but each normal point it lifts above the alert line ranks above every sub-line point, so
it costs ranking quality (VUS-PR) while it buys caught events. ``point_gate`` sets where it
takes over: above ``point_gate`` times its own alert-quantile line.

Every labelled univariate series of ../shared/benchmark is fitted once with the default
ensemble on its training prefix (``anomalyd.detectors.crossfit.fit_calibrated``, as ``anomalyd
evaluate`` does); its two parts are then re-joined at each gate (the line refitted on the
re-joined out-of-sample scores, the echo rule applied) and rows ``[train_end:]`` measured:
VUS-PR of the joined score, event recall, false-alarm rate (median over series) and PATE-F1 of
the alerts. ``no point member`` is the window members' part alone (the named baseline).

Then two selection rules over the candidates (the baseline included), each chosen on two
sources and measured on the other two, for all six pairs:

* alerts first: the highest event recall among candidates whose median false-alarm rate is
  <= 1% on the choosing sources;
* ranking first: the highest event recall among candidates whose mean VUS-PR on the choosing
  sources is at least the baseline's.

    python benchmarks/point_gate.py [--jobs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _suite import add_suite_args, candidate_column, labelled_univariate, per_series  # noqa: E402

from anomalyd import metrics  # noqa: E402
from anomalyd.detectors import Calibrator, registry  # noqa: E402
from anomalyd.detectors.crossfit import fit_calibrated  # noqa: E402
from anomalyd.detectors.echo import Echo, suppress_echo  # noqa: E402
from anomalyd.detectors.ensemble import Ensemble  # noqa: E402
from anomalyd.service.suite import LabelledSeries  # noqa: E402

GATES = (1.0, 1.25, 1.5, 2.0, 3.0)
BASELINE = "no point member"
QUANTILE = 0.995
MAX_FALSE_ALARM = 0.01


def _fill(scores: np.ndarray) -> np.ndarray:
    """Unscored points rank lowest (as ``anomalyd evaluate`` does)."""
    finite = scores[np.isfinite(scores)]
    return np.where(np.isfinite(scores), scores, float(finite.min()) if finite.size else 0.0)


def joined(det: Ensemble, parts: np.ndarray, gate: float | None) -> np.ndarray:
    """The score from ``parts`` at ``gate`` (None: the window members' part alone)."""
    if gate is None:
        out: np.ndarray = parts[:, 0] / det.part_scale_[0]
        return out
    det.point_gate = gate
    return det.join_parts(parts)


def measure(det: Ensemble, line: np.ndarray, test: np.ndarray, series: LabelledSeries,
            gate: float | None) -> dict[str, float]:  # fmt: skip
    """One candidate's figures on rows ``[train_end:]`` of ``series``."""
    labels = series.labels[series.train_end :]
    window = metrics.sliding_window(series.values[:, 0])
    raw = joined(det, test, gate)
    cal = Calibrator(quantile=QUANTILE).fit(joined(det, line, gate))
    score, _ = suppress_echo(cal.transform(raw), 0, det.echo_window, Echo())
    alarms = np.nan_to_num(score, nan=0.0) > 1.0
    out = dict(metrics.alert_metrics(labels, alarms, window=window))
    out["vus_pr"] = metrics.vus_pr(labels, _fill(raw), window=window)
    out["pate_f1"] = metrics.pate_f1(
        labels, alarms.astype(np.int64), e_buffer=window, d_buffer=window, include_zero=False
    )
    return out


def one_series(series: LabelledSeries) -> dict[str, Any]:
    """Every gate's figures on one series."""
    train = series.values[: series.train_end]
    fitted = fit_calibrated(registry.create("ensemble"), train, quantile=QUANTILE)
    det, line = fitted.detector, fitted.line_scores
    if not isinstance(det, Ensemble) or det.point_ is None or line is None:
        return {"error": f"not an ensemble with a point member ({fitted.calibration})",
                "source": series.source}  # fmt: skip
    if line.ndim == 1:  # a span too short for folds: the line is in-sample, as in the service
        line = det.score_parts(train)
    test = det.score_parts(series.values)[series.train_end :]
    cands = {BASELINE: None, **{f"gate {g:g}": g for g in GATES}}
    return {
        "source": series.source,
        "candidates": {k: measure(det, line, test, series, g) for k, g in cands.items()},
    }


def summary(per: dict[str, dict[str, Any]], sources: set[str], cand: str) -> dict[str, float]:
    """Means over the series of ``sources`` (false-alarm rate: also the median)."""

    def col(k: str) -> np.ndarray:
        return candidate_column(per, sources, cand, k)

    return {
        "vus_pr": float(col("vus_pr").mean()),
        "event_recall": float(col("event_recall").mean()),
        "false_alarm_median": float(np.median(col("false_alarm_rate"))),
        "pate_f1": float(col("pate_f1").mean()),
    }


def alerts_first(stats: dict[str, dict[str, float]]) -> list[str]:
    """The candidates whose median false-alarm rate is at most ``MAX_FALSE_ALARM``."""
    return [c for c, s in stats.items() if s["false_alarm_median"] <= MAX_FALSE_ALARM]


def ranking_first(stats: dict[str, dict[str, float]]) -> list[str]:
    """The candidates whose mean VUS-PR is at least the baseline's."""
    return [c for c, s in stats.items() if s["vus_pr"] >= stats[BASELINE]["vus_pr"]]


RULES = {"alerts first": alerts_first, "ranking first": ranking_first}


def choose(per: dict[str, dict[str, Any]], sources: set[str], cands: list[str], rule: str) -> str:
    """The highest event recall among the candidates ``rule`` allows on ``sources``."""
    stats = {c: summary(per, sources, c) for c in cands}
    ok = RULES[rule](stats) or [BASELINE]
    return max(ok, key=lambda c: (stats[c]["event_recall"], stats[c]["vus_pr"]))


def _row(label: str, s: dict[str, float]) -> str:
    """One table row: VUS-PR, recall, median false alarms, PATE-F1."""
    return (f"{label:<17}{s['vus_pr']:>8.4f}{s['event_recall']:>8.3f}"
            f"{s['false_alarm_median']:>9.2%}{s['pate_f1']:>9.3f}")  # fmt: skip


def print_table(per: dict[str, dict[str, Any]], cands: list[str], sources: list[str]) -> None:
    print(f"{'candidate':<17}{'VUS-PR':>8}{'recall':>8}{'FA med':>9}{'PATE-F1':>9}   VUS-PR "
          + " ".join(f"{s:>6}" for s in sources))  # fmt: skip
    for c in cands:
        per_src = " ".join(f"{summary(per, {s}, c)['vus_pr']:>6.3f}" for s in sources)
        print(f"{_row(c, summary(per, set(sources), c))}          {per_src}")


def print_cv(per: dict[str, dict[str, Any]], cands: list[str], sources: list[str]) -> None:
    for rule in RULES:
        print(f"\n{rule}: choose on two sources, measure on the other two (vs {BASELINE})")
        for pick in itertools.combinations(sources, 2):
            rest = set(sources) - set(pick)
            c = choose(per, set(pick), cands, rule)
            s, b = summary(per, rest, c), summary(per, rest, BASELINE)
            print(f"  on {'+'.join(pick):<9} -> {c:<16} on {'+'.join(sorted(rest)):<9} "
                  f"VUS-PR {s['vus_pr']:.4f} ({s['vus_pr'] - b['vus_pr']:+.4f})  "
                  f"recall {s['event_recall']:.3f} ({s['event_recall'] - b['event_recall']:+.3f})"
                  f"  FA med {s['false_alarm_median']:.2%}")  # fmt: skip
        print(f"  on all sources -> {choose(per, set(sources), cands, rule)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_suite_args(parser)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    suite = labelled_univariate(args)
    if suite is None:
        return 0
    per = per_series(one_series, suite, args.jobs)
    if args.json is not None:
        args.json.write_text(json.dumps(per, indent=1))
    sources = sorted({v["source"] for v in per.values() if "candidates" in v})
    cands = [BASELINE, *(f"gate {g:g}" for g in GATES)]
    errors = sum("error" in v for v in per.values())
    print(f"{len(per)} series ({errors} could not be fitted), default ensemble, "
          f"sources {', '.join(sources)}; baseline: {BASELINE}")  # fmt: skip
    print_table(per, cands, sources)
    print_cv(per, cands, sources)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
