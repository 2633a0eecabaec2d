"""Alert-quality metrics: the vectorised ``alert_metrics`` against its loop reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anomalyd.metrics import alert_metrics, band_precision, constant_scores
from anomalyd.metrics.alerts import SEVERITY_EDGES
from tests.unit.metrics.alerts_reference import alert_metrics_loop, band_precision_loop

NAN = math.nan


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[int], list[bool], int]:
    n = draw(st.integers(1, 80))
    runs = st.lists(st.integers(0, 1), min_size=n, max_size=n)  # many short events
    sparse = st.lists(st.sampled_from([0] * 6 + [1]), min_size=n, max_size=n)
    labels = draw(st.one_of(runs, sparse))
    alarms = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return labels, alarms, draw(st.integers(0, 12))


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_equals_loop_reference(case: tuple[list[int], list[bool], int]) -> None:
    labels, alarms, window = case
    expected = alert_metrics_loop(labels, alarms, window)
    assert alert_metrics(labels, alarms, window=window) == pytest.approx(expected, nan_ok=True)


@settings(max_examples=200, deadline=None)
@given(_cases(), st.data())
def test_band_precision_equals_loop_reference(
    case: tuple[list[int], list[bool], int], data: st.DataObject
) -> None:
    labels, _, window = case
    values = st.sampled_from([NAN, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 7.0, 100.0])
    scores = data.draw(st.lists(values, min_size=len(labels), max_size=len(labels)))
    expected = band_precision_loop(labels, scores, window, SEVERITY_EDGES)
    assert band_precision(labels, scores, window=window) == expected


@pytest.mark.parametrize(
    ("labels", "alarms", "window", "expected"),
    [
        pytest.param(
            [0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0], 2, (2 / 6, NAN, 2000 / 6, 0), id="no-labels"
        ),
        pytest.param([1, 1, 1, 1], [0, 0, 1, 0], 0, (NAN, 1.0, NAN, 1), id="all-labels"),
        pytest.param(
            [0, 0, 0, 0, 0, 1, 1], [1, 0, 0, 0, 0, 0, 0], 2, (1 / 3, 0.0, 200.0, 1), id="event-end"
        ),
        pytest.param(
            [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], 9, (NAN, 1.0, 0.0, 1), id="end-detected"
        ),
        pytest.param(
            [0, 1, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0, 0], 0, (0.25, 0.0, 250.0, 2), id="window-0"
        ),
        pytest.param(
            [0, 1, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0, 0], 1, (NAN, 0.5, 250.0, 2), id="window-1"
        ),
        pytest.param([0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], 1, (1 / 3, 0.0, 200.0, 1), id="far"),
    ],
)
def test_hand_made_cases(
    labels: list[int], alarms: list[int], window: int, expected: tuple[float, ...]
) -> None:
    keys = ("false_alarm_rate", "event_recall", "alerts_per_1000", "n_events")
    want = dict(zip(keys, expected, strict=True))
    for flags in (alarms, np.array(alarms, dtype=bool)):  # 0/1 and bool alarms alike
        assert alert_metrics(labels, flags, window=window) == pytest.approx(want, nan_ok=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alarms": [True, False]}, "same length"),
        ({"labels": [0, 2, 0]}, "only 0 and 1"),
        ({"labels": [], "alarms": []}, "empty"),
        ({"alarms": [0, 2, 0]}, "`alarms` must contain only True/False or 0/1. Got 2 at index 1"),
        ({"alarms": [[0, 1, 0]]}, "`alarms` must be a 1-D array"),
        ({"alarms": ["a", "b", "c"]}, "`alarms` must be bool or 0/1"),
        ({"window": -1}, "`window` must be an int >= 0. Got -1 instead."),
        ({"window": 1.5}, "`window` must be an int >= 0"),
        ({"window": True}, "`window` must be an int >= 0"),
    ],
)
def test_invalid_input_raises_clear_error(kwargs: dict[str, Any], match: str) -> None:
    args = {"labels": [0, 1, 0], "alarms": [False, True, False], "window": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        alert_metrics(args.pop("labels"), args.pop("alarms"), **args)


@pytest.mark.parametrize(
    ("scores", "rtol", "expected"),
    [
        ([3.0, 3.0, 3.0], 1e-9, True),
        ([NAN, 3.0, 3.0, math.inf], 1e-9, True),  # warm-up NaN and inf are ignored
        ([NAN, NAN], 1e-9, True),
        ([], 1e-9, True),
        ([0.0, 0.0], 1e-9, True),
        ([1.0, 1.0 + 1e-12], 1e-9, True),
        ([1.0, 1.1], 1e-9, False),
        ([1e-12, 2e-12], 1e-9, False),  # relative to the scores' own scale
        ([1.0, 1.1], 0.2, True),
        ([2, 2, 2], 0.0, True),
    ],
)
def test_constant_scores(scores: list[float], rtol: float, expected: bool) -> None:
    assert constant_scores(scores, rtol=rtol) is expected


@settings(max_examples=100, deadline=None)
@given(st.floats(-1e12, 1e12, allow_nan=False), st.integers(1, 50))
def test_any_repeated_value_is_constant_and_a_change_is_not(value: float, n: int) -> None:
    scores = np.full(n, value)
    assert constant_scores(scores)
    assert not constant_scores(np.append(scores, value + 1.0 + abs(value) * 1e-6))


@pytest.mark.parametrize(
    ("scores", "rtol", "match"),
    [
        ([[1.0, 2.0]], 1e-9, "`scores` must be a 1-D numeric array"),
        (["a", "b"], 1e-9, "`scores` must be a 1-D numeric array"),
        ([1.0], -1.0, "`rtol` must be a finite float >= 0. Got -1.0 instead."),
        ([1.0], math.nan, "`rtol` must be a finite float >= 0"),
        ([1.0], "0.1", "`rtol` must be a finite float >= 0"),
    ],
)
def test_constant_scores_invalid_input(scores: Any, rtol: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        constant_scores(scores, rtol=rtol)
