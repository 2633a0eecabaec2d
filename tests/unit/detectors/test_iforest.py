"""IsolationForestDetector: agreement with scikit-learn's IsolationForest, trees, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from anomalyd.detectors._windows import windows
from anomalyd.detectors.iforest import IsolationForestDetector, _avg_path


def test_agrees_with_sklearn_on_points() -> None:
    """window=1 on 6-D data: the forest scores each point like scikit-learn's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 6)) * np.linspace(0.5, 3.0, 1500)[:, None]
    x[700] = 9.0
    ours = IsolationForestDetector(window=1, n_trees=300, seed=1).fit(x).score(x)
    sk = IsolationForest(n_estimators=300, random_state=1).fit(x)
    theirs = -sk.score_samples(x)
    assert spearmanr(ours, theirs).statistic > 0.9
    assert np.argmax(ours) == np.argmax(theirs) == 700
    assert abs(ours.mean() - theirs.mean()) < 0.01


def test_agrees_with_sklearn_on_windows() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(1200)
    x = np.sin(2 * np.pi * t / 40) * (1.2 + np.sin(2 * np.pi * t / 370))
    x += 0.1 * rng.normal(size=len(t))
    x[1000:1012] += 3.0  # a short burst: every coordinate of the last window moves
    det = IsolationForestDetector(window=12, n_trees=300, seed=2).fit(x[:800])
    ours = det.score(x)[11:]
    w = windows((x[:, None] - det.mean_) / det.std_, 12)
    theirs = -IsolationForest(n_estimators=300, random_state=2).fit(w[:789]).score_samples(w)
    assert spearmanr(ours, theirs).statistic > 0.8
    assert np.argmax(ours) + 11 == np.argmax(theirs) + 11 == 1011


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 256, 1000])
def test_average_path_length_matches_sklearn(n: int) -> None:
    assert _avg_path(float(n)) == pytest.approx(_average_path_length([n])[0], rel=1e-12)


def test_scores_in_unit_interval_and_trees_consistent() -> None:
    x = np.random.default_rng(3).normal(size=(400, 2))
    det = IsolationForestDetector(window=3, n_trees=10, max_samples=64).fit(x)
    s = det.score(x)[2:]
    assert np.all((s > 0) & (s <= 1))
    inner = det.feature_ >= 0
    assert np.all(det.feature_ < 6) and np.all(det.left_[inner] > 0)
    leaves = det.feature_ == -1
    assert np.all(det.leaf_[leaves] <= np.ceil(np.log2(64)) + _avg_path(64.0))
    assert det.norm_ == pytest.approx(_avg_path(64.0))


def test_seed_changes_the_forest_and_fixes_it() -> None:
    x = np.random.default_rng(4).normal(size=300)
    a = IsolationForestDetector(window=4, n_trees=5, seed=1).fit(x)
    b = IsolationForestDetector(window=4, n_trees=5, seed=1).fit(x)
    c = IsolationForestDetector(window=4, n_trees=5, seed=2).fit(x)
    np.testing.assert_array_equal(a.threshold_, b.threshold_)
    assert not np.array_equal(a.threshold_, c.threshold_)


def test_constant_training_span_scores_flat() -> None:
    det = IsolationForestDetector(window=4, n_trees=5).fit(np.ones(50))
    s = det.score(np.r_[np.ones(20), 5.0, np.ones(5)])
    assert np.all(det.feature_ == -1)  # nothing to split: every root is a leaf
    np.testing.assert_allclose(s[3:], 0.5)


def test_window_normalisation_ignores_scale() -> None:
    x = np.sin(np.arange(600) / 5) + 0.05 * np.random.default_rng(5).normal(size=600)
    det = IsolationForestDetector(window=16, n_trees=20, normalize="window").fit(x[:300])
    np.testing.assert_allclose(det.score(3 * x + 7)[300:], det.score(x)[300:], atol=1e-6)


def test_state_is_plain_arrays() -> None:
    det = IsolationForestDetector(window=4, n_trees=3).fit(np.arange(100.0) % 7)
    arrays = det.state_arrays()
    assert set(arrays) == {"mean_", "std_", "feature_", "threshold_", "left_", "leaf_"}
    assert set(det.state_meta()) == {"n_channels_", "norm_"}
