"""Fixtures for the detector checks: small, fast parameters per registered detector."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from anomalyd.detectors import registry
from anomalyd.detectors.checks import example_series

# Small parameters so the shared checks stay fast; every registered name must appear here.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "mad": {"window": 8},
    "residual": {"window": 9},
    "iforest": {"window": 8, "n_trees": 20, "seed": 3},
    "subpca": {"window": 8},
    "lof": {"window": 8, "n_neighbors": 5},
    "kmeans": {"window": 8, "n_clusters": 6},
    "mp": {"window": 8},
    "ae": {"window": 8, "epochs": 3, "seed": 3},
    "apre": {"window": 8, "epochs": 3, "seed": 3},
    "themis": {"window": 32, "stride": 1, "seed": 3},
    "ensemble": {"members": "mad:8,subpca:auto,lof:6:normalize=window"},
    "constant": {},
    "perchannel": {"members": "mad:8,lof:6", "point": "residual:5", "top_k": 2},
}


def available_names() -> list[Any]:
    """Registered detectors, with THEMIS skipped (clearly) when the chronos extra is missing."""
    out: list[Any] = []
    for name in registry.names():
        needs_chronos = name == "themis" and importlib.util.find_spec("chronos") is None
        marks = [pytest.mark.skip(reason="needs the `chronos` extra")] if needs_chronos else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture
def series() -> np.ndarray:
    """The shared checks' series: a season, noise, a spike and a level shift: 400 points."""
    return example_series()


@pytest.fixture(scope="session")
def tiny_chronos(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """THEMIS' default model -> a tiny random Chronos-Bolt checkpoint (built once, lazily)."""
    from tests.unit.detectors.chronos_tiny import tiny_chronos_env

    with tiny_chronos_env(tmp_path_factory.mktemp("chronos-bolt-tiny-random")) as path:
        yield path


@pytest.fixture(autouse=True)
def _themis_uses_tiny_chronos(request: pytest.FixtureRequest) -> None:
    """Check-suite runs of `themis` get the tiny checkpoint (other detectors skip the import)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("name") == "themis":
        request.getfixturevalue("tiny_chronos")
