"""The shared check suite (``anomalyd.detectors.checks``): every registered detector passes
every check, and a detector that breaks the contract is caught."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from anomalyd.detectors import registry
from anomalyd.detectors.checks import CHECKS, Check, CheckFailed, check_detector
from anomalyd.detectors.mad import RollingMAD
from tests.unit.detectors.conftest import FAST_PARAMS, available_names


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
@pytest.mark.parametrize("name", available_names())
def test_every_detector_passes_every_check(name: str, check: Check) -> None:
    check(name, FAST_PARAMS[name])


class Leaky(RollingMAD):
    """Not causal: every score sees the last point."""

    name = "leaky"

    def score(self, x: Any) -> Any:
        return super().score(x) + np.asarray(x, dtype=float).ravel()[-1]


def test_a_detector_that_looks_ahead_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    classes = {**registry._CLASSES, "leaky": f"{__name__}:Leaky"}
    monkeypatch.setattr(registry, "_CLASSES", classes)
    with pytest.raises(CheckFailed, match="scores before 250 changed"):
        check_detector("leaky", {"window": 8})
    check_detector("mad", {"window": 8})  # its parent passes
