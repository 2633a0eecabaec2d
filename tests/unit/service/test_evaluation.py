"""Alert-quality keys of `anomalyd evaluate`: per series, in the summary, and in the table."""

from __future__ import annotations

import io
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from anomalyd import metrics
from anomalyd.service.evaluation import (
    SCORES,
    ServiceSchedule,
    _stop_workers,
    evaluate_series,
    fill_warmup,
    summarize,
)
from anomalyd.service.replay import replay
from anomalyd.service.report import MAX_NAMED, print_table
from anomalyd.service.series import SeriesConfig
from anomalyd.service.suite import LabelledSeries

N, TRAIN_END = 600, 300


def _labels() -> np.ndarray:
    labels = np.zeros(N, dtype=np.int64)
    labels[450:460] = 1
    return labels


def _sine_with_jump() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(N) / 6) + 0.1 * rng.normal(size=N)
    x[450:460] += 3
    return x


def _ramp() -> np.ndarray:
    """MAD over the previous window of a straight line is the same everywhere: a dead model."""
    return np.arange(N, dtype=np.float64)


@pytest.mark.parametrize(("make", "dead"), [(_sine_with_jump, False), (_ramp, True)])
def test_evaluate_series_adds_alert_metrics(make: Any, dead: bool) -> None:
    series = LabelledSeries("s", "test", make()[:, None], _labels(), TRAIN_END)
    out = evaluate_series(series, "mad", {"window": 16})
    assert out["constant_scores"] is dead
    assert out["n_events"] == 1
    assert 0.0 <= out["false_alarm_rate"] <= 1.0
    assert out["event_recall"] == (0.0 if dead else 1.0)  # a 30-sigma jump is caught
    assert out["alerts_per_1000"] >= 0.0


def _shifted_noise() -> LabelledSeries:
    """Noise whose level moves up 5 sigma for good at row 1200, a 10-sigma spike at 2500."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=3000)
    x[1200:] += 5.0
    x[2500] += 10.0
    labels = np.zeros(3000, dtype=np.int64)
    labels[2500] = 1
    return LabelledSeries("shifted", "test", x[:, None], labels, 600)


def test_the_service_schedule_follows_a_lasting_shift() -> None:
    series, params = _shifted_noise(), {"window": 16}
    once = evaluate_series(series, "lof", params)
    schedule = ServiceSchedule(train_points=600, refit_every=200)
    served = evaluate_series(series, "lof", params, keep_scores=True, schedule=schedule)
    expected = replay(SeriesConfig("lof", params, 600, 200, 0.995), series.values, first=600)
    np.testing.assert_array_equal(served[SCORES]["anomaly_score"][600:], expected.score[600:])
    window = metrics.sliding_window(series.values[:, 0])
    rank = fill_warmup(expected.rank[600:])
    assert served["vus_pr"] == metrics.vus_pr(series.labels[600:], rank, window=window)
    assert served["models"] == len(expected.models) == 12 and served["fit_seconds"] > 0
    assert once["false_alarm_rate"] > 0.5  # one model fitted before the shift alarms on
    assert served["false_alarm_rate"] < 0.15  # refits learn the new level
    assert once["event_recall"] == served["event_recall"] == 1.0


@pytest.mark.parametrize(("detector", "params"), [("lof", {"window": 16}), ("ensemble", {})])
def test_one_model_on_the_service_schedule_measures_as_the_prefix(
    detector: str, params: dict[str, Any]
) -> None:
    """A span as long as the prefix and no refits: the service's one model is the prefix's,
    its unbounded calibrated score ranks as the raw score, so every figure agrees."""
    series = _shifted_noise()
    once = evaluate_series(series, detector, params)
    schedule = ServiceSchedule(train_points=series.train_end, refit_every=0)
    served = evaluate_series(series, detector, params, schedule=schedule)
    assert served.pop("models") == 1
    for out in (once, served):
        out.pop("fit_seconds"), out.pop("score_seconds")
    assert served.keys() == once.keys()
    for key, value in once.items():
        assert served[key] == pytest.approx(value, rel=1e-9, nan_ok=True), key


def test_the_service_schedule_reports_a_first_fit_that_fails() -> None:
    series = _shifted_noise()
    with pytest.raises(ValueError, match="fit failed"):
        evaluate_series(series, "lof", {"window": 16}, schedule=ServiceSchedule(8, 200))


def test_an_interrupt_ends_the_workers_mid_series() -> None:
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(2, mp_context=ctx)
    busy = [pool.submit(time.sleep, 60) for _ in range(3)]
    while not busy[0].running():
        time.sleep(0.05)
    start = time.monotonic()
    _stop_workers(pool)
    pool.shutdown(cancel_futures=True)
    assert time.monotonic() - start < 10 and not multiprocessing.active_children()


def test_unscored_points_rank_lowest_and_overflows_highest() -> None:
    scores = np.array([np.nan, 0.5, np.inf, 2.0, -np.inf, 1.0])
    np.testing.assert_array_equal(fill_warmup(scores), [0.5, 0.5, 2.0, 2.0, 0.5, 1.0])
    np.testing.assert_array_equal(fill_warmup(np.full(3, np.nan)), np.zeros(3))


def _per_series(far: float, recall: float, *, dead: bool = False) -> dict[str, Any]:
    return {
        "vus_pr": 0.5,
        "false_alarm_rate": far,
        "event_recall": recall,
        "alerts_per_1000": 1000 * far,
        "constant_scores": dead,
    }


def test_summary_means_skip_undefined_and_count_dead_models() -> None:
    per = {
        "a": _per_series(0.01, 1.0),
        "b": _per_series(0.03, 0.0, dead=True),
        "c": _per_series(0.11, math.nan),  # no event: recall undefined
        "d": _per_series(math.nan, 1.0, dead=True),  # no far normal point
        "e": {"error": "training prefix shorter than the window"},
    }
    summary = summarize(per)
    assert summary["false_alarm_rate"] == pytest.approx(0.05)
    assert summary["false_alarm_rate_median"] == pytest.approx(0.03)
    assert summary["event_recall"] == pytest.approx(2 / 3)
    assert summary["alerts_per_1000"] == pytest.approx(50.0)
    assert summary["constant_series"] == 2


def _doc(detector: str, dead: int, alive: int = 2) -> dict[str, Any]:
    series = {f"dead{i}": _per_series(0.0, 0.0, dead=True) for i in range(dead)}
    series.update({f"ok{i}": _per_series(0.004, 1.0) for i in range(alive)})
    for values in series.values():
        values.update(dict.fromkeys(("vus_roc", "pate", "pate_f1", "auc_pr", "auc_roc"), 0.5))
        values.update(best_f1=0.5, fit_seconds=0.1)
    return {"detector": detector, "params": {}, "series": series}


def _printed(runs: list[dict[str, Any]]) -> str:
    names = [name for run in runs for name in run["series"]]
    suite = [LabelledSeries(n, "src", np.zeros((1, 1)), np.zeros(1), 0) for n in names]
    console = Console(file=io.StringIO(), width=2000)  # no wrapped lines
    print_table(console, {"runs": runs}, suite, {})
    out = console.file.getvalue()
    assert isinstance(out, str)
    return out


@pytest.mark.parametrize(("dead", "more"), [(1, ""), (MAX_NAMED + 5, " and 5 more")])
def test_table_shows_alert_columns_and_warns_of_dead_models(dead: int, more: str) -> None:
    out = _printed([_doc("lof", dead), _doc("mad", 0)])
    assert all(h in out for h in ("false alarms", "event recall", "alerts/1k", "0.40%"))
    [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
    names = ", ".join(f"dead{i}" for i in range(min(dead, MAX_NAMED)))
    assert warning.startswith(f"warning: lof gave constant scores (a dead model) on {dead} series")
    assert f"series: {names}{more}. PATE gives a constant about 0.5" in warning


def test_table_shows_precision_per_severity_band() -> None:
    run = _doc("lof", 0)
    run["summary"] = {"band_alarms": [200, 50, 0], "band_real": [50, 40, 0]}
    run["summary"]["band_precision"] = [0.25, 0.8, None]
    out = _printed([run])
    assert "lof: alarms on or near a label, per anomaly_score band: (1, 2] 25% of 200, " in out
    assert "(2, 3] 80% of 50, > 3 - of 0" in out


def test_summary_pools_the_bands_over_series() -> None:
    per_series = {
        "a": {"band_alarms": [10, 2, 1], "band_real": [1, 2, 1]},
        "b": {"band_alarms": [30, 0, 3], "band_real": [3, 0, 3]},
    }
    bands = summarize(per_series)
    assert bands["band_alarms"] == [40, 2, 4] and bands["band_real"] == [4, 2, 4]
    assert bands["band_precision"] == [0.1, 1.0, 1.0]
