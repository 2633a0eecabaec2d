"""``anomalyd.detectors.echo``: a window's echo of an anomaly does not alert again."""

from __future__ import annotations

import numpy as np
import pytest

from anomalyd.detectors.echo import ECHO_GAP, SUSTAIN, Echo, echo_after, suppress_echo

W = 8


def publish(cal: np.ndarray, window: int = W) -> np.ndarray:
    return suppress_echo(np.asarray(cal, dtype=float), 0, window, Echo())[0]


def test_a_spike_alerts_once_and_its_echo_sits_at_the_line() -> None:
    cal = np.r_[np.zeros(5), 3.0, 2.9, 3.0, 2.5, 2.8, 2.7, 2.9, 2.6, np.zeros(5)]
    out = publish(cal)
    assert np.flatnonzero(out > 1).tolist() == [5]
    assert (out[6:13] == 1.0).all() and (out[cal < 1] == cal[cal < 1]).all()


def test_new_evidence_alerts_again() -> None:
    out = publish(np.r_[0.0, 2.0, 1.5, 2.5, 1.2, 4.0, 0.0])
    assert np.flatnonzero(out > 1).tolist() == [1, 3, 5]
    assert out[5] == 4.0  # severity kept where it alerts


def test_a_lasting_anomaly_alerts_again_after_sustain_windows() -> None:
    cal = np.r_[np.zeros(3), np.full(40, 2.0)]
    out = publish(cal)
    assert np.flatnonzero(out > 1).tolist() == [3, *range(3 + SUSTAIN * W, 43)]


def test_a_quiet_gap_longer_than_the_merge_gap_starts_a_new_run() -> None:
    cal = np.r_[2.0, np.zeros(ECHO_GAP + 1), 1.5, np.zeros(ECHO_GAP - 1), 1.4]
    out = publish(cal)
    assert out[0] == 2.0 and out[ECHO_GAP + 2] == 1.5  # a new run: its first point alerts
    assert out[-1] == 1.0  # within the gap: the same run, below its peak


def _random_scores(rng: np.random.Generator, n: int) -> np.ndarray:
    cal = rng.exponential(0.4, size=n)
    for _ in range(6):
        at, length = int(rng.integers(0, n)), int(rng.integers(1, 4 * W))
        cal[at : at + length] += rng.uniform(0.5, 3.0)
    cal[rng.random(n) < 0.02] = np.nan
    return cal


@pytest.mark.parametrize("seed", range(20))
def test_chunks_give_the_scores_of_the_whole(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cal = _random_scores(rng, 300)
    whole = publish(cal)
    cuts = np.sort(rng.choice(np.arange(1, 300), size=8, replace=False))
    echo, parts = Echo(), []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, 300], strict=True):
        out, echo = suppress_echo(cal[lo:hi], int(lo), W, echo)
        parts.append(out)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("seed", range(20))
def test_the_state_is_read_back_from_published_scores(seed: int) -> None:
    """A restart: continuing from ``echo_after`` of the stored scores (all of them, or the
    last ``SUSTAIN * W + ECHO_GAP``) gives what the uninterrupted stream gives."""
    rng = np.random.default_rng(seed)
    cal = _random_scores(rng, 300)
    whole = publish(cal)
    for end in rng.integers(1, 300, size=10).tolist():
        for tail in (end, min(end, SUSTAIN * W + ECHO_GAP)):
            echo = echo_after(whole[end - tail : end], end)
            rest, _ = suppress_echo(cal[end:], end, W, echo)
            np.testing.assert_array_equal(rest, whole[end:], err_msg=f"end={end} tail={tail}")


def test_a_too_short_read_is_not_exact() -> None:
    """The reference for the rule above: reading fewer points than required can differ."""
    cal = np.r_[np.full(3, 2.0), np.full(SUSTAIN * W, 1.5)]
    whole = publish(cal)
    end = len(cal) - 1
    echo = echo_after(whole[end - 2 : end], end)
    rest, _ = suppress_echo(cal[end:], end, W, echo)
    assert rest[0] != whole[end]
