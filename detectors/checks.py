"""The checks every detector must pass (as river's ``checks`` and scikit-learn's
``check_estimator``): the contract of :class:`~anomalyd.detectors.base.Detector` as code.

Anyone adding a detector registers it (``anomalyd.detectors.registry``) and runs::

    from anomalyd.detectors.checks import check_detector
    check_detector("mydetector", {"window": 8})  # small parameters keep it quick

Each check fits on the first 200 points of a seeded 400-point series (a 25-point season,
noise, a spike at 300 and a level shift over 340-360) and raises :class:`CheckFailed` saying
what the detector did wrong. ``CHECKS`` lists them for a test suite to run one by one (the
project's own runs every check over every registered detector).
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.detectors.base import Detector, NotFittedError, init_param_names
from anomalyd.detectors.persistence import META_FILE, STATE_FILE
from anomalyd.detectors.streaming import StreamScorer

FloatArray = npt.NDArray[np.float64]
Check = Callable[[str, Mapping[str, Any]], None]
TRAIN = 200


class CheckFailed(AssertionError):
    """A detector broke the contract; the message names the check and what was seen."""


def example_series() -> FloatArray:
    """The checks' series: shape (400,)."""
    rng = np.random.default_rng(0)
    t = np.arange(400)
    x = np.sin(2 * np.pi * t / 25) + 0.1 * rng.normal(size=400)
    x[300] += 4.0
    x[340:360] += 2.0
    return x


def check_detector(name: str, params: Mapping[str, Any] | None = None) -> None:
    """Run every check on registered detector ``name`` with ``params``. Raises CheckFailed
    (the first failing check) or ValueError for an unknown detector."""
    for check in CHECKS:
        check(name, params or {})


def _make(name: str, params: Mapping[str, Any], **extra: object) -> Detector:
    return registry.create(name, {**params, **extra})


def _fitted(name: str, params: Mapping[str, Any], x: FloatArray) -> Detector:
    return _make(name, params).fit(x[:TRAIN])


def _expect(ok: object, what: str) -> None:
    if not ok:
        raise CheckFailed(what)


def _close(
    got: FloatArray, want: FloatArray, what: str, atol: float = 1e-6, rtol: float = 0.0
) -> None:
    ok = np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    _expect(ok, f"{what} (atol {atol}, rtol {rtol})")


def _raises(kind: type[Exception], pattern: str, call: Callable[[], object], what: str) -> None:
    try:
        call()
    except kind as exc:
        _expect(re.search(pattern, str(exc)), f"{what}: message {str(exc)!r} lacks {pattern!r}")
        return
    raise CheckFailed(f"{what}: no {kind.__name__} raised")


def check_registered_with_schema(name: str, params: Mapping[str, Any]) -> None:
    """Registered under its ``name``; defaults, ``params`` and the JSON schema agree."""
    cls = registry.get_class(name)
    _expect(cls.name == name, f"{cls.__name__}.name is {cls.name!r}, registered as {name!r}")
    _expect(init_param_names(cls) == [p.name for p in cls.params], "__init__ != params")
    defaults = cls().get_params()
    _expect(defaults == {p.name: p.default for p in cls.params}, "get_params() != the defaults")
    _expect(set(cls.param_schema()["properties"]) == set(defaults), "schema lacks parameters")


def check_score_shape_and_warmup(name: str, params: Mapping[str, Any]) -> None:
    """``score`` gives one value per point: NaN for the first ``context_length``, then finite."""
    x = example_series()
    det = _fitted(name, params, x)
    s = det.score(x)
    _expect(s.shape == x.shape, f"score shape {s.shape}, input {x.shape}")
    _expect(np.isnan(s[: det.context_length]).all(), "a score inside the warm-up")
    _expect(np.isfinite(s[det.context_length :]).all(), "a NaN score after the warm-up")


def check_causal(name: str, params: Mapping[str, Any]) -> None:
    """A point's score depends on earlier points only."""
    x = example_series()
    det = _fitted(name, params, x)
    changed = x.copy()
    changed[250:] = np.random.default_rng(1).normal(size=len(x) - 250) * 5
    _close(det.score(changed)[:250], det.score(x)[:250], "scores before 250 changed", 1e-9)


def check_incremental_equals_batch(name: str, params: Mapping[str, Any]) -> None:
    """``StreamScorer`` over uneven chunks gives the batch scores."""
    x = example_series()
    det = _fitted(name, params, x)
    stream = StreamScorer(det)
    chunks = np.split(x, [1, 2, 30, 31, 150, 151, 152, 290, 333])
    got = np.concatenate([stream.update(c) for c in chunks])
    _close(got, det.score(x), "streamed scores differ from batch scores")


def check_batched_across_series(name: str, params: Mapping[str, Any]) -> None:
    """``fit_many`` / ``score_many`` give what fitting and scoring one by one give."""
    x = example_series()
    xs = [x, x[::-1].copy(), x + np.random.default_rng(2).normal(size=len(x))]
    cls = type(_make(name, params))
    dets = cls.fit_many([(_make(name, params), s[:TRAIN]) for s in xs])
    batched = cls.score_many(list(zip(dets, xs, strict=True)))
    for det, s, got in zip(dets, xs, batched, strict=True):
        _close(got, det.score(s), "score_many differs from score")
        _close(got, _fitted(name, params, s).score(s), "fit_many differs from fit")


def check_save_load_round_trip(name: str, params: Mapping[str, Any]) -> None:
    """``save`` / ``registry.load`` and ``to_bytes`` / ``from_bytes`` keep the scores exactly."""
    x = example_series()
    det = _fitted(name, params, x)
    with tempfile.TemporaryDirectory() as tmp:
        det.save(tmp)
        again = registry.load(tmp)
        meta, state = det.to_bytes()
        same_files = meta == (Path(tmp) / META_FILE).read_text()
        same_files &= state == (Path(tmp) / STATE_FILE).read_bytes()
    _expect(type(again) is type(det) and again.get_params() == det.get_params(), "loaded params")
    _expect(np.array_equal(again.score(x), det.score(x), equal_nan=True), "loaded scores")
    _expect(same_files, "to_bytes() differs from the saved files")
    back = registry.from_bytes(meta, state).score(x)
    _expect(np.array_equal(back, det.score(x), equal_nan=True), "from_bytes scores")


def check_seeded_determinism(name: str, params: Mapping[str, Any]) -> None:
    """Two fits with the same parameters score identically."""
    x = example_series()
    a, b = _fitted(name, params, x).score(x), _fitted(name, params, x).score(x)
    _expect(np.array_equal(a, b, equal_nan=True), "two fits score differently")


def check_nan_input(name: str, params: Mapping[str, Any]) -> None:
    """A NaN blanks the scores of the windows holding it, and only those."""
    x = example_series()
    x[100] = x[320] = np.nan
    det = _make(name, params).fit(x[:TRAIN])
    s, w = det.score(x), det.context_length
    _expect(np.isnan(s[320 : 320 + w + 1]).all(), "a score for a window holding a NaN")
    _expect(np.isfinite(s[321 + w :]).all() and np.isfinite(s[w:100]).all(), "NaN spread")


def check_multivariate(name: str, params: Mapping[str, Any]) -> None:
    """Two channels give one score per point; a different channel count is refused."""
    x = example_series()
    noise = 0.1 * np.random.default_rng(4).normal(size=len(x))
    both = np.stack([x, np.cos(np.arange(len(x)) / 4) + noise], 1)
    both[300, 1] += 5.0
    det = _make(name, params).fit(both[:TRAIN])
    s = det.score(both)
    _expect(s.shape == (len(x),), f"score shape {s.shape} for {both.shape}")
    _expect(np.isfinite(s[det.context_length :]).all(), "a NaN score after the warm-up")
    _raises(ValueError, "must have 2 channel", lambda: det.score(x), "one channel of two")


def check_finds_the_spike(name: str, params: Mapping[str, Any]) -> None:
    """The spike at 300 scores above the median normal point."""
    x = example_series()
    s = _fitted(name, params, x).score(x)
    window = int(params.get("window", 8))
    _expect(np.nanmax(s[300 : 300 + window]) > np.nanmedian(s[TRAIN:290]), "spike not seen")


def check_extreme_magnitudes(name: str, params: Mapping[str, Any]) -> None:
    """Values near 1e300 and 1e-300 (the series times 2**996 and 2**-996) score as the series
    does, without overflow warnings: detectors standardise what they see, and squares of such
    values leave float range unless computed in the data's own units."""
    x = example_series()
    want = _fitted(name, params, x).score(x)
    for exponent in (996, -996):
        what = f"values times 2**{exponent}"
        scaled = np.ldexp(x, exponent)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                got = _fitted(name, params, scaled).score(scaled)
            except RuntimeWarning as exc:
                raise CheckFailed(f"{what}: {exc}") from exc
        _close(got, want, f"{what}: scores differ from the series'", atol=1e-9, rtol=1e-9)


def check_refuses_bad_use(name: str, params: Mapping[str, Any]) -> None:
    """Scoring before fitting, infinities, 3-D input, too short a training span and unknown
    parameters are refused with messages that say so."""
    x = example_series()
    _raises(NotFittedError, "not fitted yet", lambda: _make(name, params).score(x), "unfitted")
    det = _fitted(name, params, x)
    _raises(ValueError, "contains inf", lambda: det.score(np.r_[x[:50], np.inf]), "inf")
    _raises(
        ValueError, "must be a 1-D array or a 2-D", lambda: det.score(np.zeros((3, 3, 3))), "3-D"
    )
    _raises(ValueError, "needs at least", lambda: _make(name, params).fit(x[:3]), "short span")
    _raises(
        ValueError, r"Unknown parameter\(s\) bogus", lambda: _make(name, params, bogus=1), "bogus"
    )


def check_bad_parameters_have_clear_messages(name: str, params: Mapping[str, Any]) -> None:
    """Each parameter refuses a value of the wrong type or out of range with
    "`name` must be ... Got value instead." when fitting."""
    x = example_series()
    for pname, value in _invalid_values(name):
        pattern = f"^`{re.escape(pname)}` must be .* Got {re.escape(repr(value))} instead.$"
        _raises(ValueError, pattern, _fit_call(_make(name, params, **{pname: value}), x), pname)


def _fit_call(det: Detector, x: FloatArray) -> Callable[[], object]:
    return lambda: det.fit(x[:TRAIN])


def _invalid_values(name: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for p in registry.get_class(name).params:
        out.append((p.name, "nonsense" if p.kind is not str else 12345))
        if p.minimum is not None:
            out.append((p.name, p.kind(p.minimum) - 1))
        if p.maximum is not None:
            out.append((p.name, p.kind(p.maximum) + 1))
    return out


CHECKS: tuple[Check, ...] = (
    check_registered_with_schema,
    check_score_shape_and_warmup,
    check_causal,
    check_incremental_equals_batch,
    check_batched_across_series,
    check_save_load_round_trip,
    check_seeded_determinism,
    check_nan_input,
    check_multivariate,
    check_finds_the_spike,
    check_extreme_magnitudes,
    check_refuses_bad_use,
    check_bad_parameters_have_clear_messages,
)
