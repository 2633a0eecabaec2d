"""Point-wise metrics as TSB-AD computes them: AUC-ROC, AUC-PR, Standard-F1, PA-F1."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anomalyd.metrics.basic import F1_EPS, auc_pr, auc_roc, best_f1, pa_f1

METRICS = [auc_roc, auc_pr, best_f1, pa_f1]


def _literal_pa_f1(labels: list[int], scores: list[float]) -> float:
    """TSB-AD's metric_PointF1PA restated literally: per threshold, the adjust loop, then F1."""
    best = 0.0
    for threshold in np.linspace(min(scores), max(scores), 100):
        pred = [s > threshold for s in scores]
        in_event = False
        for i, label in enumerate(labels):
            if label and pred[i] and not in_event:
                in_event = True
                for j in range(i, 0, -1):  # TSB-AD's backward fill never reaches index 0
                    if not labels[j]:
                        break
                    pred[j] = True
            elif not label:
                in_event = False
            if in_event:
                pred[i] = True
        tp = sum(1 for p, y in zip(pred, labels, strict=True) if p and y)
        fp = sum(1 for p, y in zip(pred, labels, strict=True) if p and not y)
        fn = sum(1 for p, y in zip(pred, labels, strict=True) if not p and y)
        if 2 * tp + fp + fn:
            best = max(best, 2 * tp / (2 * tp + fp + fn))
    return best


def _literal_best_f1(labels: list[int], scores: list[float]) -> float:
    """Best 2PR/(P+R+1e-5) over every distinct score as threshold (prediction score >= t)."""
    best = 0.0
    n_pos = sum(labels)
    for threshold in set(scores):
        pred = [s >= threshold for s in scores]
        tp = sum(1 for p, y in zip(pred, labels, strict=True) if p and y)
        precision, recall = tp / sum(pred), tp / n_pos
        best = max(best, 2 * precision * recall / (precision + recall + F1_EPS))
    return best


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    labels = draw(st.lists(st.integers(0, 1), min_size=1, max_size=120))
    n = len(labels)
    tied = st.lists(st.integers(0, 5).map(float), min_size=n, max_size=n)
    smooth = st.lists(st.floats(-100, 100, allow_nan=False), min_size=n, max_size=n)
    return labels, draw(st.one_of(tied, smooth))


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_pa_f1_equals_literal_adjust_loop(case: tuple[list[int], list[float]]) -> None:
    labels, scores = case
    assert pa_f1(labels, scores) == pytest.approx(_literal_pa_f1(labels, scores), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(_cases())
def test_best_f1_equals_brute_force(case: tuple[list[int], list[float]]) -> None:
    labels, scores = case
    if sum(labels) == 0:
        assert best_f1(labels, scores) == 0.0
    else:
        assert best_f1(labels, scores) == pytest.approx(_literal_best_f1(labels, scores), abs=1e-12)


def test_pa_f1_keeps_tsbad_index_zero_quirk() -> None:
    """An event at index 0 detected at index 2: TSB-AD fills back to index 1 only."""
    assert pa_f1([1, 1, 1, 0, 0], [0, 0, 5, 0, 0]) == pytest.approx(0.8)
    assert pa_f1([0, 1, 1, 1, 0], [0, 0, 0, 5, 0]) == pytest.approx(1.0)
    assert pa_f1([1, 1, 1, 0, 0], [5, 0, 0, 0, 0]) == pytest.approx(1.0)


def test_perfect_detector() -> None:
    labels = [0, 0, 1, 1, 0, 0, 0, 1, 0]
    scores = [0.1, 0.2, 0.9, 0.8, 0.1, 0.0, 0.3, 0.7, 0.2]
    assert auc_roc(labels, scores) == 1.0
    assert auc_pr(labels, scores) == 1.0
    assert best_f1(labels, scores) == pytest.approx(2 / (2 + F1_EPS))  # TSB-AD's epsilon
    assert pa_f1(labels, scores) == 1.0


def test_known_values() -> None:
    labels = [0, 1, 0, 1, 0, 0]
    scores = [0.5, 0.9, 0.6, 0.2, 0.1, 0.3]
    # positives rank 1st and 5th of 6: ROC = (4 + 1) / (2 * 4); AP = (1/1 + 2/5) / 2
    assert auc_roc(labels, scores) == pytest.approx(5 / 8)
    assert auc_pr(labels, scores) == pytest.approx(0.7)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_single_class_labels(labels: list[int]) -> None:
    scores = [0.4, 0.1, 0.3, 0.2]  # index 0 first above a threshold: no index-0 quirk
    assert math.isnan(auc_roc(labels, scores))
    assert math.isnan(auc_pr(labels, scores))
    expected_f1 = 0.0 if sum(labels) == 0 else 2 / (2 + F1_EPS)
    assert best_f1(labels, scores) == pytest.approx(expected_f1)
    assert pa_f1(labels, scores) == (0.0 if sum(labels) == 0 else 1.0)


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([0, 1, 0], [0.1, 0.2], "same length"),
        ([0, 1, 0], [0.1, math.nan, 0.3], "NaN or inf"),
        ([0, 1, 0], [0.1, -math.inf, 0.3], "NaN or inf"),
        ([0, 3, 0], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([], [], "empty"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
@pytest.mark.parametrize("func", METRICS, ids=lambda f: f.__name__)
def test_invalid_input_raises_clear_error(func: Any, labels: Any, scores: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        func(labels, scores)
