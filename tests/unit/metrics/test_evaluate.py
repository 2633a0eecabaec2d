"""evaluate(): every metric of one series, with the window given or estimated from the data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from anomalyd.metrics import (
    auc_pr,
    auc_roc,
    best_f1,
    evaluate,
    pa_f1,
    pate,
    sliding_window,
    vus_pr,
    vus_roc,
)

KEYS = {"vus_pr", "vus_roc", "pate", "auc_roc", "auc_pr", "best_f1", "pa_f1", "window"}


def _series() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy sine of period 40 with two labelled events and a detector that sees them."""
    rng = np.random.default_rng(7)
    n = 1200
    values = np.sin(2 * np.pi * np.arange(n) / 40) + 0.1 * rng.normal(size=n)
    labels = np.zeros(n, dtype=int)
    labels[400:420] = 1
    labels[900:905] = 1
    scores = rng.random(n) + 0.8 * labels
    return values, labels, scores


def test_returns_every_metric_with_given_window() -> None:
    _, labels, scores = _series()
    out = evaluate(labels, scores, window=30)
    assert set(out) == KEYS
    assert out["window"] == 30
    assert out["vus_pr"] == vus_pr(labels, scores, window=30)
    assert out["vus_roc"] == vus_roc(labels, scores, window=30)
    assert out["auc_roc"] == auc_roc(labels, scores)
    assert out["auc_pr"] == auc_pr(labels, scores)
    assert out["best_f1"] == best_f1(labels, scores)
    assert out["pa_f1"] == pa_f1(labels, scores)
    paper = pate(labels, scores, e_buffer=30, d_buffer=30, include_zero=False, big_data=False)
    assert out["pate"] == paper
    assert all(0.0 <= v <= 1.0 for k, v in out.items() if k != "window")


def test_window_from_values_uses_sliding_window() -> None:
    values, labels, scores = _series()
    out = evaluate(labels, scores, values=values)
    assert out["window"] == sliding_window(values) == 40
    assert out["vus_pr"] == vus_pr(labels, scores, window=40)


def test_explicit_window_wins_over_values() -> None:
    values, labels, scores = _series()
    assert evaluate(labels, scores, window=12, values=values)["window"] == 12


def test_single_class_labels_give_nan_for_ranking_metrics() -> None:
    out = evaluate(np.zeros(50, dtype=int), np.linspace(0, 1, 50), window=5)
    for key in ("vus_pr", "vus_roc", "auc_roc", "auc_pr"):
        assert math.isnan(out[key])
    assert out["best_f1"] == 0.0
    assert out["pa_f1"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "Pass `window=`"),
        ({"window": -2}, "`window` must be an int >= 0"),
        ({"window": 2.0}, "`window` must be an int >= 0"),
        ({"values": [1.0, math.nan, 2.0, 3.0]}, "NaN or inf"),
        ({"window": 3, "scores": [0.1, 0.2]}, "same length"),
        ({"window": 3, "scores": [0.1, math.nan, 0.3, 0.4]}, "NaN or inf"),
        ({"window": 3, "labels": [0, 1, 2, 0]}, "only 0 and 1"),
        ({"window": 3, "labels": [], "scores": []}, "empty"),
    ],
)
def test_invalid_input_raises_clear_error(kwargs: dict[str, Any], match: str) -> None:
    args = {"labels": [0, 1, 1, 0], "scores": [0.1, 0.8, 0.7, 0.2], **kwargs}
    labels, scores = args.pop("labels"), args.pop("scores")
    with pytest.raises(ValueError, match=match):
        evaluate(labels, scores, **args)
