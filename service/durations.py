"""Settings in time, as operators think of them (``7d``, ``1h``), turned into points.

``train_points`` and ``refit_every`` of ``PUT /v1/series/{id}`` take a number of points or a
duration; a duration is converted once, when the configuration is set, at the series' step
(the median gap between its latest stored timestamps), and the series stores points.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?[smhdw]$"
"""A duration: a number and a unit (s, m, h, d, w), e.g. ``90s``, ``1.5h``, ``7d``."""
STEP_POINTS = 1024
"""The step is the median gap between (at most) this many latest timestamps."""


def duration_seconds(text: str) -> float:
    """Seconds in ``text`` (``DURATION_PATTERN``). Raises ValueError naming the format."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"A duration is a number and a unit s, m, h, d or w (e.g. '7d', '1.5h'). "
            f"Got {text!r} instead."
        )
    return float(text[:-1]) * UNITS[text[-1]]


def step_seconds(timestamps: npt.NDArray[np.float64]) -> float | None:
    """Median gap between consecutive ``timestamps`` (seconds, shape (n,)); None when there
    are fewer than two or no gap is positive."""
    gaps = np.diff(np.asarray(timestamps, dtype=np.float64))
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if gaps.size else None


def setting_points(
    name: str, value: int | str | None, default: int, step: Callable[[], float | None]
) -> int:
    """The setting ``name`` in points: ``default`` when None, a number of points as is (an
    int or a string of digits), else a duration converted at the series' step (``step()``,
    asked only then). Raises ValueError as :func:`to_points`."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    return int(value) if value.isdigit() else to_points(name, value, step())


def to_points(name: str, text: str, step: float | None) -> int:
    """The duration ``text`` of setting ``name`` as a number of points at ``step`` seconds
    (rounded). Raises ValueError saying what to send when the step is unknown, the duration
    is malformed, or rounds to no point but is not 0."""
    try:
        seconds = duration_seconds(text)
    except ValueError as exc:
        raise ValueError(f"`{name}`: {exc}") from exc
    if step is None:
        raise ValueError(
            f"`{name}` is the duration {text!r}: the series needs at least two stored points "
            "to know its step. Send points first, or give a number of points."
        )
    points = round(seconds / step)
    if seconds > 0 and points == 0:
        raise ValueError(
            f"`{name}` is the duration {text!r}, at most half the series' step ({step:g} s "
            "between points): give at least one step, or a number of points."
        )
    return points
