"""Ensemble-specific behaviour: member specs, auto windows, standardisation."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import registry
from detectors.base import NotFittedError
from detectors.ensemble import parse_members


def test_parse_members() -> None:
    assert parse_members("lof:32,subpca:auto:n_components=0.8,lof:8:normalize=window") == [
        ("lof", 32, {}),
        ("subpca", None, {"n_components": 0.8}),
        ("lof", 8, {"normalize": "window"}),
    ]


@pytest.mark.parametrize(
    "spec, bad",
    [
        ("lof", "lof"),
        ("lof:x", "lof:x"),
        ("nosuch:8", "nosuch:8"),
        ("ensemble:8", "ensemble:8"),
        ("lof:8,subpca:8:n_components", "subpca:8:n_components"),
    ],
)
def test_bad_member_spec_message(spec: str, bad: str) -> None:
    det = registry.create("ensemble", {"members": spec})
    with pytest.raises(ValueError, match=f"^`members` must be .*Got '{bad}' instead.$"):
        det.fit(np.zeros(500))


def test_auto_window_follows_training_period() -> None:
    t = np.arange(2000)
    x = np.sin(2 * np.pi * t / 40) + 0.05 * np.random.default_rng(0).normal(size=2000)
    det = registry.create("ensemble", {"members": "subpca:auto,mad:8"}).fit(x[:1000])
    assert det.windows_ == [40, 8]
    assert det.context_length == 39


def test_members_are_standardised_on_training_span(series: np.ndarray) -> None:
    det = registry.create("ensemble", {"members": "mad:8,subpca:8", "quantile": 0.9})
    det.fit(series[:200])
    train = det.score(series[:200])
    # each member maps its training median to 0 and its 0.9 quantile to 1
    assert abs(np.nanmedian(train)) < 0.5
    assert np.nanmax(det.score(series)[295:310]) > 1.0


def test_fit_many_fits_members_together_and_all_or_nothing(series: np.ndarray) -> None:
    spec = {"members": "lof:8,ae:8:epochs=2,subpca:8"}
    ens = type(registry.create("ensemble", spec))
    dets = ens.fit_many([(registry.create("ensemble", spec), series[:200]) for _ in range(2)])
    alone = registry.create("ensemble", spec).fit(series[:200])
    for det in dets:
        np.testing.assert_allclose(det.score(series), alone.score(series), atol=1e-6)
    good, bad = registry.create("ensemble", spec), registry.create("ensemble", spec)
    with pytest.raises(ValueError, match=r"`train` needs at least \d+ points without NaN"):
        ens.fit_many([(good, series[:200]), (bad, series[:5])])
    for det in (good, bad):
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            det.score(series)
