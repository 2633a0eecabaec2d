"""VUS-PR / VUS-ROC: TSB-AD's vectors, the slow literal reference, edge cases, validation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anomalyd.metrics.vus import N_THRESHOLDS, Vus, vus, vus_pr, vus_roc, vus_surface
from tests.unit.metrics.vus_reference import (
    curve_points,
    extended_segments,
    runs_of_ones,
    softened_labels,
    vus_slow,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "vus_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["vectors"]
TOL = 1e-9


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_matches_tsbad_vectors(vec: dict[str, Any]) -> None:
    labels, scores, window = vec["labels"], vec["scores"], vec["sliding_window"]
    assert vus_pr(labels, scores, window=window) == pytest.approx(vec["vus_pr"], abs=TOL)
    assert vus_roc(labels, scores, window=window) == pytest.approx(vec["vus_roc"], abs=TOL)
    both = vus(labels, scores, window=window)
    assert both == (vus_pr(labels, scores, window=window), vus_roc(labels, scores, window=window))


@pytest.mark.parametrize("vec", sorted(VECTORS, key=lambda v: v["n"])[:1], ids=lambda v: v["name"])
def test_slow_reference_matches_tsbad_vectors(vec: dict[str, Any]) -> None:
    """The literal reference itself reproduces TSB-AD (smallest vector; it is slow)."""
    pr, roc = vus_slow(vec["labels"], vec["scores"], vec["sliding_window"])
    assert pr == pytest.approx(vec["vus_pr"], abs=TOL)
    assert roc == pytest.approx(vec["vus_roc"], abs=TOL)


def _labels_strategy() -> st.SearchStrategy[list[int]]:
    """0/1 labels: free lists (adjacent events, events at both edges, one class) and sparse runs."""
    free = st.lists(st.integers(0, 1), min_size=1, max_size=200)

    def runs(draw_args: tuple[int, list[tuple[int, int]]]) -> list[int]:
        n, spans = draw_args
        out = [0] * n
        for start, length in spans:
            for i in range(start % n, min(start % n + length, n)):
                out[i] = 1
        return out

    sparse = st.tuples(
        st.integers(1, 200),
        st.lists(st.tuples(st.integers(0, 199), st.integers(1, 15)), max_size=6),
    ).map(runs)
    return st.one_of(free, sparse)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[int], list[float], int]:
    labels = draw(_labels_strategy())
    n = len(labels)
    tied = st.lists(st.integers(0, 4).map(float), min_size=n, max_size=n)
    smooth = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n)
    scores = draw(st.one_of(tied, smooth))
    return labels, scores, draw(st.integers(0, 20))


@settings(max_examples=200, deadline=None)
@given(_cases())
def test_fast_equals_slow_reference(case: tuple[list[int], list[float], int]) -> None:
    labels, scores, window = case
    fast = vus(labels, scores, window=window)
    slow = vus_slow(labels, scores, window)
    if math.isnan(slow[0]):
        assert math.isnan(fast.pr) and math.isnan(fast.roc)
    else:
        assert fast.pr == pytest.approx(slow[0], abs=TOL)
        assert fast.roc == pytest.approx(slow[1], abs=TOL)


@pytest.mark.parametrize(
    ("labels", "window"),
    [
        ([1, 0, 0, 1, 1, 0, 1], 6),  # events at both edges, gaps of 1 and 2
        ([0, 1, 0, 1, 0, 1, 0, 0, 0, 1], 40),  # window far larger than the series
        ([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 9),  # buffers cut by both edges
        ([0, 1], 0),
        ([0, 0, 0, 1, 0, 0, 0], 1),  # window 1: no soft labels yet
    ],
)
def test_edge_layouts_equal_slow_reference(labels: list[int], window: int) -> None:
    scores = np.random.default_rng(len(labels) + window).random(len(labels))
    pr, roc = vus_slow(labels, scores, window)
    fast = vus(labels, scores, window=window)
    assert fast.pr == pytest.approx(pr, abs=TOL)
    assert fast.roc == pytest.approx(roc, abs=TOL)


def test_dense_events_medium_series_equal_slow_reference() -> None:
    """Many short events, overlapping buffers, thresholds without repeats (n > 250)."""
    rng = np.random.default_rng(11)
    labels = (rng.random(1500) < 0.08).astype(int)
    labels[700:760] = 1
    scores = rng.random(1500) + 0.5 * labels
    pr, roc = vus_slow(labels, scores, 24)
    fast = vus(labels, scores, window=24)
    assert fast.pr == pytest.approx(pr, abs=TOL)
    assert fast.roc == pytest.approx(roc, abs=TOL)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 1, 1], [0], [1]])
def test_single_class_labels_give_nan(labels: list[int]) -> None:
    """TSB-AD raises IndexError here; our documented value is nan for both."""
    result = vus(labels, [0.1 * i for i in range(len(labels))], window=5)
    assert isinstance(result, Vus)
    assert math.isnan(result.pr) and math.isnan(result.roc)


def test_perfect_detector_scores_one() -> None:
    labels = np.zeros(500, dtype=int)
    labels[100:120] = 1
    labels[300:301] = 1
    assert vus_pr(labels, labels.astype(float), window=0) == pytest.approx(1.0)
    assert vus_roc(labels, labels.astype(float), window=0) == pytest.approx(1.0)


def test_accepts_bool_and_float_labels() -> None:
    labels = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    scores = np.linspace(0, 1, 10)
    expected = vus(labels, scores, window=4)
    assert vus(labels.astype(bool), scores, window=4) == expected
    assert vus(labels.astype(float), scores, window=4) == expected


GOOD_LABELS = [0, 1, 1, 0, 0]
GOOD_SCORES = [0.1, 0.9, 0.8, 0.2, 0.3]


@pytest.mark.parametrize(
    ("labels", "scores", "window", "match"),
    [
        (GOOD_LABELS, GOOD_SCORES[:4], 2, "same length"),
        (GOOD_LABELS, [0.1, math.nan, 0.8, 0.2, 0.3], 2, "NaN or inf"),
        (GOOD_LABELS, [0.1, math.inf, 0.8, 0.2, 0.3], 2, "NaN or inf"),
        ([0, 2, 1, 0, 0], GOOD_SCORES, 2, "only 0 and 1"),
        ([], [], 2, "empty"),
        (GOOD_LABELS, GOOD_SCORES, -1, "`window` must be an int >= 0"),
        (GOOD_LABELS, GOOD_SCORES, 2.5, "`window` must be an int >= 0"),
        (GOOD_LABELS, GOOD_SCORES, True, "`window` must be an int >= 0"),
        ([[0, 1]], [[0.1, 0.2]], 2, "1-D"),
    ],
)
@pytest.mark.parametrize("func", [vus, vus_pr, vus_roc])
def test_invalid_input_raises_clear_error(
    func: Any, labels: Any, scores: Any, window: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        func(labels, scores, window=window)


def test_window_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        vus_pr(GOOD_LABELS, GOOD_SCORES, 2)  # type: ignore[call-arg]


@settings(max_examples=100, deadline=None)
@given(_cases())
def test_surface_rows_are_the_slow_references_curves(
    case: tuple[list[int], list[float], int],
) -> None:
    labels, scores, window = case
    lab, sc = np.asarray(labels), np.asarray(scores, dtype=float)
    if lab.sum() in (0, len(lab)):
        with pytest.raises(ValueError, match="single class"):
            vus_surface(labels, scores, window=window)
        return
    surface = vus_surface(labels, scores, window=window)
    assert surface.recall.shape == surface.precision.shape == (window + 1, N_THRESHOLDS)
    for w in range(window + 1):
        soft = softened_labels(lab, w)
        segments = extended_segments(runs_of_ones(lab), len(lab), w)
        pred = sc[None, :] >= surface.thresholds[:, None]
        tpr, fpr, precision = curve_points(lab, soft, pred, segments)
        np.testing.assert_allclose(surface.recall[w], tpr, atol=TOL)
        np.testing.assert_allclose(surface.fpr[w], fpr, atol=TOL)
        np.testing.assert_allclose(surface.precision[w], precision, atol=TOL)
    steps = np.diff(surface.recall, axis=1, prepend=0.0) * surface.precision
    assert steps.sum(axis=1).mean() == pytest.approx(
        vus(labels, scores, window=window).pr, abs=1e-12
    )
