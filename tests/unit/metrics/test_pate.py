"""PATE and PATE-F1: reference vectors, a literal slow implementation, and input validation."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anomalyd.metrics.pate import pate, pate_f1
from tests.unit.metrics.pate_reference import slow_pate, slow_pate_f1

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "pate_vectors.json"
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "pate_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["vectors"]
TOL = 1e-9

# Reference keyword -> ours.
KWARG_NAMES = {
    "e_buffer": "e_buffer",
    "d_buffer": "d_buffer",
    "Big_Data": "big_data",
    "num_desired_thresholds": "num_thresholds",
    "num_splits_MaxBuffer": "buffer_splits",
    "include_zero": "include_zero",
}


def _our_call(vector: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(is PATE-F1, our keyword arguments) for a vector's reference call."""
    kwargs = dict(vector["kwargs"])
    binary = bool(kwargs.pop("binary_scores", False))
    return binary, {KWARG_NAMES[k]: v for k, v in kwargs.items()}


def _per_pair_cases() -> list[Any]:
    """One case per (vector, buffer pair): that pair alone, as the vectors file describes."""
    cases = []
    for vec in VECTORS:
        binary, kwargs = _our_call(vec)
        for pair in vec["per_buffer_pair"]:
            single = kwargs | {
                "e_buffer": pair["e"],
                "d_buffer": pair["d"],
                "buffer_splits": 1,
                "include_zero": False,
            }
            case_id = f"{vec['name']}-e{pair['e']}-d{pair['d']}"
            cases.append(pytest.param(vec, binary, single, pair["value"], id=case_id))
    return cases


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/reference is not checked out here")
def test_fixture_is_the_shared_reference_copy() -> None:
    assert json.loads(FIXTURE.read_text()) == json.loads(SHARED.read_text())


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
@pytest.mark.parametrize("impl", ["fast", "slow"])
def test_reference_vectors(vec: dict[str, Any], impl: str) -> None:
    binary, kwargs = _our_call(vec)
    fns = {"fast": (pate, pate_f1), "slow": (slow_pate, slow_pate_f1)}[impl]
    fn: Callable[..., float] = fns[1] if binary else fns[0]
    assert fn(vec["labels"], vec["scores"], **kwargs) == pytest.approx(vec["expected"], abs=TOL)


@pytest.mark.parametrize(("vec", "binary", "kwargs", "expected"), _per_pair_cases())
def test_reference_vectors_per_buffer_pair(
    vec: dict[str, Any], binary: bool, kwargs: dict[str, Any], expected: float
) -> None:
    fn: Callable[..., float] = pate_f1 if binary else pate
    assert fn(vec["labels"], vec["scores"], **kwargs) == pytest.approx(expected, abs=TOL)


# ----------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("big_data", [True, False])
def test_no_anomaly_scores_zero(big_data: bool) -> None:
    scores = np.linspace(0, 1, 30)
    assert pate(np.zeros(30, int), scores, e_buffer=3, d_buffer=3, big_data=big_data) == 0.0
    assert pate_f1(np.zeros(30, int), scores > 0.5, e_buffer=3, d_buffer=3) == 0.0


@pytest.mark.parametrize("big_data", [True, False])
def test_all_anomalous_scores_one(big_data: bool) -> None:
    scores = np.random.default_rng(0).random(40)
    assert pate(np.ones(40, int), scores, e_buffer=5, d_buffer=5, big_data=big_data) == 1.0


def test_single_point_series() -> None:
    assert pate([1], [0.3]) == 1.0
    assert pate([0], [0.3]) == 0.0
    assert pate_f1([1], [1]) == 1.0
    assert pate_f1([1], [0]) == 0.0


def test_accepts_lists_bools_and_integer_scores() -> None:
    labels = [0, 0, 1, 1, 1, 0, 0, 0, 1, 0]
    scores = [0, 1, 5, 3, 2, 2, 0, 1, 4, 0]
    expected = pate(np.array(labels), np.array(scores, float), e_buffer=2, d_buffer=2)
    assert pate(np.array(labels, bool), scores, e_buffer=2, d_buffer=2) == expected
    assert pate(labels, np.array(scores, np.int32), e_buffer=2, d_buffer=2) == expected


def test_medium_series_matches_slow_reference() -> None:
    rng = np.random.default_rng(42)
    labels = np.zeros(300, int)
    for start, length in [(0, 6), (40, 25), (66, 1), (68, 9), (150, 40), (290, 10)]:
        labels[start : start + length] = 1
    scores = np.round(rng.random(300) + 0.6 * np.roll(labels, 2) * rng.random(300), 2)
    variants: list[dict[str, Any]] = [
        {"big_data": False},
        {"num_thresholds": 40, "buffer_splits": 2},
    ]
    for kwargs in variants:
        opts = {"e_buffer": 12, "d_buffer": 30} | kwargs
        assert pate(labels, scores, **opts) == pytest.approx(
            slow_pate(labels.tolist(), scores.tolist(), **opts), abs=TOL
        )


# ----------------------------------------------------------------------------- validation

LABELS = [0, 1, 1, 0]
SCORES = [0.1, 0.9, 0.8, 0.2]
# (id, function, changes to a valid call, expected message)
INVALID: list[tuple[str, Callable[..., float], dict[str, Any], str]] = [
    ("len", pate, {"labels": [0, 1, 0]}, "same length. Got 3 labels and 4 scores"),
    ("nan", pate, {"scores": [0.1, math.nan, 0.8, 0.2]}, "`scores` must be finite"),
    ("inf", pate, {"scores": [0.1, math.inf, 0.8, 0.2]}, "NaN or inf"),
    ("label-2", pate, {"labels": [0, 2, 1, 0]}, "`labels` must contain only 0 and 1"),
    ("empty", pate, {"labels": [], "scores": []}, "`labels` is empty"),
    ("e-neg", pate, {"e_buffer": -1}, "`e_buffer` must be an int >= 0. Got -1 instead."),
    ("e-float", pate, {"e_buffer": 1.5}, "`e_buffer` must be an int >= 0. Got 1.5 instead."),
    ("d-neg", pate, {"d_buffer": -2}, "`d_buffer` must be an int >= 0. Got -2 instead."),
    ("d-bool", pate, {"d_buffer": True}, "`d_buffer` must be an int >= 0. Got True instead."),
    ("thr-1", pate, {"num_thresholds": 1}, "`num_thresholds` must be an int >= 2. Got 1 instead."),
    ("splits-0", pate, {"buffer_splits": 0}, "`buffer_splits` must be an int >= 1. Got 0 instead."),
    ("big-data", pate, {"big_data": "yes"}, "`big_data` must be a bool"),
    ("zero", pate, {"include_zero": 1}, "`include_zero` must be a bool"),
    ("f1-len", pate_f1, {"scores": [1, 0]}, "Got 4 labels and 2 predictions"),
    ("f1-nan", pate_f1, {"scores": [1, math.nan, 0, 0]}, "`predictions` must be finite"),
    ("f1-empty", pate_f1, {"labels": [], "scores": []}, "`labels` is empty"),
    ("f1-e", pate_f1, {"e_buffer": -1}, "`e_buffer` must be an int >= 0. Got -1 instead."),
    ("f1-splits", pate_f1, {"buffer_splits": 0}, "`buffer_splits` must be an int >= 1"),
]


@pytest.mark.parametrize(
    ("fn", "changes", "message"), [pytest.param(*row[1:], id=row[0]) for row in INVALID]
)
def test_invalid_input_says_what_to_fix(
    fn: Callable[..., float], changes: dict[str, Any], message: str
) -> None:
    kwargs = {"labels": LABELS, "scores": SCORES} | changes
    labels, scores = kwargs.pop("labels"), kwargs.pop("scores")
    with pytest.raises(ValueError, match=re.escape(message)):
        fn(labels, scores, **kwargs)


# ----------------------------------------------------------------------------- fast == slow


@st.composite
def labels_strategy(draw: st.DrawFn, max_n: int = 60) -> list[int]:
    """Labels with events at the edges, adjacent events, single points, or none / all."""
    n = draw(st.integers(1, max_n))
    shape = draw(st.sampled_from(["events", "events", "events", "none", "all"]))
    if shape != "events":
        return [int(shape == "all")] * n
    labels = [0] * n
    pos = draw(st.integers(0, 4))
    while pos < n:
        length = draw(st.sampled_from([1, 1, 2, 3, 5, 8]))
        labels[pos : pos + length] = [1] * len(labels[pos : pos + length])
        pos += length + draw(st.sampled_from([1, 1, 2, 3, 6, 12]))
    if draw(st.booleans()):
        labels[-1] = 1
    return labels


@st.composite
def series(draw: st.DrawFn, max_n: int = 60) -> tuple[list[int], list[float]]:
    """Labels and scores; scores are often tied and often carry a (shifted) signal."""
    labels = draw(labels_strategy(max_n))
    n = len(labels)
    if draw(st.booleans()):
        levels = draw(st.integers(1, 6))
        noise = [float(v) for v in draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))]
    else:
        floats = st.floats(0, 1, allow_nan=False, allow_subnormal=False)
        noise = draw(st.lists(floats, min_size=n, max_size=n))
    shift = draw(st.integers(-3, 3))
    gain = draw(st.sampled_from([0.0, 1.0, 2.5]))
    return labels, [noise[i] + gain * labels[(i + shift) % n] for i in range(n)]


def buffer_options(n: int) -> st.SearchStrategy[dict[str, Any]]:
    """Buffers from 0 to beyond the series length, 1-3 splits, with or without 0."""
    size = st.one_of(st.integers(0, 4), st.integers(0, 2 * n + 5))
    return st.fixed_dictionaries(
        {
            "e_buffer": size,
            "d_buffer": size,
            "buffer_splits": st.integers(1, 3),
            "include_zero": st.booleans(),
        }
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), labelled=series())
def test_pate_matches_slow_reference(data: st.DataObject, labelled: Any) -> None:
    labels, scores = labelled
    opts = data.draw(buffer_options(len(labels)))
    opts["big_data"] = data.draw(st.booleans())
    opts["num_thresholds"] = data.draw(st.integers(2, 30))
    expected = slow_pate(labels, scores, **opts)
    assert pate(labels, scores, **opts) == pytest.approx(expected, abs=TOL)


@settings(max_examples=40, deadline=None)
@given(labelled=series(max_n=30), e=st.integers(0, 40), d=st.integers(0, 40))
def test_pate_default_thresholds_matches_slow_reference(labelled: Any, e: int, d: int) -> None:
    labels, scores = labelled
    expected = slow_pate(labels, scores, e_buffer=e, d_buffer=d)
    assert pate(labels, scores, e_buffer=e, d_buffer=d) == pytest.approx(expected, abs=TOL)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), labels=labels_strategy())
def test_pate_f1_matches_slow_reference(data: st.DataObject, labels: list[int]) -> None:
    values = st.sampled_from([-1.0, 0.0, 0.0, 0.5, 1.0, 1.0])
    predictions = data.draw(st.lists(values, min_size=len(labels), max_size=len(labels)))
    opts = data.draw(buffer_options(len(labels)))
    expected = slow_pate_f1(labels, predictions, **opts)
    assert pate_f1(labels, predictions, **opts) == pytest.approx(expected, abs=TOL)
