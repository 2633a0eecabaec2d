"""Ensemble-specific behaviour: member specs, auto windows, standardisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anomalyd.detectors import registry
from anomalyd.detectors.base import NotFittedError
from anomalyd.detectors.ensemble import parse_members


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
    det = registry.create("ensemble", {"members": "subpca:auto,mad:8", "point": ""})
    det.fit(x[:1000])
    assert det.windows_ == [40, 8]
    assert det.context_length == 39


def test_point_member_context_counts() -> None:
    t = np.arange(2000)
    x = np.sin(2 * np.pi * t / 40) + 0.05 * np.random.default_rng(0).normal(size=2000)
    det = registry.create("ensemble", {"members": "subpca:auto,mad:8"}).fit(x[:1000])
    assert det.windows_ == [40, 8, 33]  # the window members, then the point member
    assert det.context_length == max(39, det.point_.context_length)
    assert np.isnan(det.score(x)[: det.context_length]).all()


def test_point_member_alerts_on_a_one_point_spike() -> None:
    # a random walk: a one-point jump of 8 step deviations barely moves a 64-point window
    x = np.cumsum(np.random.default_rng(1).normal(size=3000))
    x[2500] += 8.0
    scores = {}
    for point in ("", "residual:33"):
        det = registry.create("ensemble", {"members": "lof:64,subpca:64", "point": point})
        s = det.fit(x[:2000]).score(x)
        scores[point] = s[2500] / np.nanquantile(s[2000:2490], 0.995)
    assert scores["residual:33"] > 1.2 > 1.0 > scores[""]


def test_point_member_is_saved_and_loaded(tmp_path: Path, series: np.ndarray) -> None:
    det = registry.create("ensemble", {"members": "mad:8,subpca:8"}).fit(series[:250])
    det.balance_parts(det.score_parts(series[:250]) * [3.0, 0.5])
    det.save(tmp_path / "m")
    back = registry.load(tmp_path / "m")
    assert type(back.point_) is type(det.point_)
    np.testing.assert_array_equal(back.part_scale_, det.part_scale_)
    np.testing.assert_array_equal(back.score(series), det.score(series))


def test_point_gate_sets_where_the_point_member_takes_over(series: np.ndarray) -> None:
    det = registry.create("ensemble", {"members": "mad:8,subpca:8"}).fit(series[:250])
    parts = det.score_parts(series)
    det.part_scale_ = np.array([1.0, 0.5])  # the point part doubled: it takes over often
    joined = {}
    for gate in (1.0, 2.0, 1e9):
        det.point_gate = gate
        joined[gate] = det.join_parts(parts)
    mean = parts[:, 0]
    np.testing.assert_array_equal(joined[1e9], mean)  # never takes over
    took = {g: int(np.nansum(joined[g] != mean)) for g in joined}
    assert took[1.0] > took[2.0] > 0
    b = parts[:, 1] / 0.5
    over = b > np.fmax(mean, 2.0)
    np.testing.assert_array_equal(joined[2.0][over], b[over])


def test_point_gate_below_the_line_is_refused() -> None:
    det = registry.create("ensemble", {"point_gate": 0.5})
    with pytest.raises(ValueError, match=r"^`point_gate` must be a float >= 1.0. Got 0.5"):
        det.fit(np.arange(500.0))


def test_bad_point_spec_message() -> None:
    det = registry.create("ensemble", {"point": "residual:33,mad:8"})
    with pytest.raises(ValueError, match="^`point` must be one name:window"):
        det.fit(np.arange(500.0))


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
