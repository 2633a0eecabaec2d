"""The detector contract: one place that says what a detector is and what a score means.

A detector is a small class.

* ``__init__`` only stores keyword-only parameters (declared once in ``params``).
* ``fit(train)`` validates the parameters, then learns from a ``(n_points, n_channels)`` float
  array of normal-ish history. Fitted state lives in attributes whose names end in ``_``.
* ``score(values)`` returns one **raw score per point: higher = more anomalous**. Scores are
  **causal**: the score of point ``t`` uses only points ``t - context_length .. t``, so it never
  changes when later points arrive. The first ``context_length`` points have no full window and
  score NaN.
* Missing values: a NaN point makes every window that contains it score NaN (the detector does
  not guess a value); training windows that contain NaN are skipped.
* ``score_many`` / ``fit_many`` take many (detector, values) pairs of one class in one call so a
  detector can share expensive work across series (an encoder forward pass, stacked weights).
* State saves to safetensors (arrays) + JSON (everything else) and loads back identically.

:class:`~detectors.calibration.Calibrator` turns raw scores into ``anomaly_score >= 0`` with 1.0
as the alert line (``anomalyd.detectors.crossfit`` fits it on out-of-sample scores), and
:class:`StreamScorer` is the incremental form that gives the same numbers as ``score``.
"""

from __future__ import annotations

import abc
import inspect
import json
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from anomalyd.detectors.calibration import Calibrator as Calibrator  # re-exported

FloatArray = npt.NDArray[np.float64]

STATE_FILE = "state.safetensors"
META_FILE = "detector.json"
FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """Raised when a detector is used before ``fit``."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: its type, default, bounds and meaning (the registry's schema)."""

    name: str
    kind: type
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None

    def check(self, value: Any) -> None:
        """Raise ValueError (scikit-learn style) when ``value`` is not allowed."""
        ok = _has_kind(value, self.kind)
        if ok and self.choices is not None:
            ok = value in self.choices
        if ok and self.minimum is not None:
            ok = value >= self.minimum
        if ok and self.maximum is not None:
            ok = value <= self.maximum
        if not ok:
            raise ValueError(f"`{self.name}` must be {self.describe()}. Got {value!r} instead.")

    def describe(self) -> str:
        """Human-readable constraint, e.g. 'an int >= 2'."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        article = "an" if self.kind is int else "a"
        text = f"{article} {self.kind.__name__}"
        if self.minimum is not None and self.maximum is not None:
            return f"{text} in [{self.minimum}, {self.maximum}]"
        if self.minimum is not None:
            return f"{text} >= {self.minimum}"
        if self.maximum is not None:
            return f"{text} <= {self.maximum}"
        return text

    def schema(self) -> dict[str, Any]:
        """JSON schema fragment for the API and CLI."""
        types = {int: "integer", float: "number", str: "string", bool: "boolean"}
        out: dict[str, Any] = {"type": types[self.kind], "default": self.default}
        out["description"] = self.doc
        for key, val in (("minimum", self.minimum), ("maximum", self.maximum)):
            if val is not None:
                out[key] = val
        if self.choices is not None:
            out["enum"] = list(self.choices)
        return out


def _has_kind(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_):
        return False
    if kind is int:
        return isinstance(value, int | np.integer)
    if kind is float:
        return isinstance(value, int | float | np.integer | np.floating) and bool(
            np.isfinite(value)
        )
    return isinstance(value, kind)


def as_2d(values: npt.ArrayLike, *, name: str = "values") -> FloatArray:
    """Return ``values`` as a C-contiguous float64 ``(n_points, n_channels)`` array."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a 1-D array or a 2-D (n_points, n_channels) array. "
            f"Got shape {arr.shape} instead."
        )
    if np.isinf(arr).any():
        raise ValueError(f"`{name}` contains inf; pass finite numbers (NaN marks a missing value).")
    return np.ascontiguousarray(arr)


class Detector(abc.ABC):
    """Base class. Raw score: one float per point, **higher = more anomalous**, causal."""

    name: ClassVar[str]
    #: ``_score_many``'s work is per series, in compiled code that releases the GIL: parts of
    #: a batch can run on several threads (``StreamScorer.update_many(..., pool=...)``)
    split_batches: ClassVar[bool] = False
    params: ClassVar[tuple[Param, ...]]

    def stream_record(self) -> npt.NDArray[np.int64] | None:
        """This fitted detector as a member of the ensemble's fused streaming pass
        (``anomalyd.detectors._fused``: a record of its kernel kind and fitted arrays), or None
        when it has no such kernel (the ensemble then scores it through ``_score_many``)."""
        return None

    def prepare_streaming(self) -> None:
        """Precompute what streaming this fitted detector needs (``StreamScorer`` calls it; the
        service calls it right after a fit, on the fit worker, off the scoring path)."""
        return None

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """The declared parameters and their current values."""
        return {p.name: getattr(self, p.name) for p in self.params}

    @classmethod
    def param_schema(cls) -> dict[str, Any]:
        """JSON schema of the parameters (for the registry, API and CLI)."""
        props = {p.name: p.schema() for p in cls.params}
        return {"type": "object", "properties": props, "additionalProperties": False}

    def validate_params(self) -> None:
        """Raise ValueError (scikit-learn style) for the first parameter that is not allowed."""
        for p in self.params:
            p.check(getattr(self, p.name))
        self._check_param_relations()

    def _check_param_relations(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Checks that involve several parameters; override where needed."""

    # ------------------------------------------------------------------ fitting
    def fit(self, train: npt.ArrayLike) -> Self:
        """Validate parameters, then learn from ``train`` of shape (n_points[, n_channels])."""
        self._fit(self._prepare_fit(train))
        return self

    def _prepare_fit(self, train: npt.ArrayLike) -> FloatArray:
        """Validate parameters and ``train``, record its channel count; the 2-D ``train``."""
        self.validate_params()
        x = as_2d(train, name="train")
        need = self.min_train_points()
        n_ok = int((~np.isnan(x).any(axis=1)).sum())
        if n_ok < need:
            raise ValueError(
                f"`train` needs at least {need} points without NaN for {self.name} with "
                f"{self.get_params()}. Got {n_ok} instead: send more history or lower `window`."
            )
        self.n_channels_ = int(x.shape[1])
        return x

    @classmethod
    def fit_many(cls, items: Sequence[tuple[Self, npt.ArrayLike]]) -> list[Self]:
        """Fit many detectors of this class at once (override to share work)."""
        return [det.fit(train) for det, train in items]

    @abc.abstractmethod
    def _fit(self, x: FloatArray) -> None:
        """Learn fitted state (attributes ending in ``_``) from validated 2-D input."""

    def min_train_points(self) -> int:
        """Fewest training points ``fit`` accepts (default: two full windows)."""
        return 2 * (self.context_length_for_params() + 1)

    # ------------------------------------------------------------------ scoring
    @property
    def context_length(self) -> int:
        """How many points before ``t`` the score of ``t`` may use."""
        self._check_fitted()
        return self.context_length_for_params()

    @property
    def echo_window(self) -> int:
        """How many points one anomalous point can keep scores high, itself included: a
        window detector scores every window that holds it, ``context_length + 1`` (the alert
        line's echo rule, ``anomalyd.detectors.echo``, works in this unit)."""
        return self.context_length + 1

    @abc.abstractmethod
    def context_length_for_params(self) -> int:
        """The context length implied by the parameters (``window - 1`` for window methods)."""

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """Raw scores, shape (n_points,): higher = more anomalous; NaN without a full window."""
        x = self._check_input(values)
        return self._score(x)

    @classmethod
    def score_many(cls, items: Sequence[tuple[Self, npt.ArrayLike]]) -> list[FloatArray]:
        """Score many series (each with its own fitted detector of this class) in one call."""
        return cls._score_many([(det, det._check_input(values)) for det, values in items])

    @classmethod
    def _score_many(cls, items: Sequence[tuple[Self, FloatArray]]) -> list[FloatArray]:
        """``score_many`` of validated 2-D inputs (override to share work across series)."""
        return [det._score(x) for det, x in items]

    @abc.abstractmethod
    def _score(self, x: FloatArray) -> FloatArray:
        """Score validated 2-D input."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_channels_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call `fit(train)` first."
            )

    def _check_input(self, values: npt.ArrayLike) -> FloatArray:
        self._check_fitted()
        x = as_2d(values)
        if x.shape[1] != self.n_channels_:
            raise ValueError(
                f"`values` must have {self.n_channels_} channel(s) like the training data. "
                f"Got {x.shape[1]} instead."
            )
        return x

    # ------------------------------------------------------------------ persistence
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays to save (default: every ndarray attribute ending in ``_``)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and _is_array(v)}

    def state_meta(self) -> dict[str, Any]:
        """Fitted JSON-able values to save (default: every other ``_`` attribute)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not _is_array(v)}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore fitted state written by ``state_arrays`` / ``state_meta``."""
        for key, val in {**meta, **arrays}.items():
            setattr(self, key, val)

    def save(self, path: str | Path) -> None:
        """Write ``state.safetensors`` + ``detector.json`` into directory ``path``."""
        meta, state = self.to_bytes()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STATE_FILE).write_bytes(state)
        (folder / META_FILE).write_text(meta)

    def to_bytes(self) -> tuple[str, bytes]:
        """``(detector.json text, state.safetensors bytes)`` of this fitted detector, in
        memory (``registry.from_bytes`` reads them back). Raises NotFittedError before fit."""
        from safetensors.numpy import save

        self._check_fitted()
        arrays = {k: np.ascontiguousarray(v) for k, v in self.state_arrays().items()}
        doc = {
            "format_version": FORMAT_VERSION,
            "detector": self.name,
            "params": self.get_params(),
            "state": _jsonable(self.state_meta()),
        }
        return json.dumps(doc, indent=1, sort_keys=True), save(arrays)


def _is_array(value: object) -> bool:
    return isinstance(value, np.ndarray)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def init_param_names(cls: type[Detector]) -> list[str]:
    """Names of the keyword-only ``__init__`` parameters (the check suite compares them)."""
    sig = inspect.signature(cls.__init__)
    return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]


class StreamScorer:
    """Incremental scoring: keeps the last ``context_length`` points of one series.

    ``update(new)`` returns the scores of the new points and equals ``detector.score`` on the
    whole history (the detector's state is frozen between fits, and scores are causal).
    """

    def __init__(self, detector: Detector, context: npt.ArrayLike | None = None) -> None:
        self.detector = detector
        detector.prepare_streaming()
        width = detector.context_length
        empty = np.empty((0, detector.n_channels_))
        self.context = empty if context is None else as_2d(context, name="context")[-width:]
        if width == 0:
            self.context = empty

    def window_for(self, new: npt.ArrayLike) -> FloatArray:
        """The array to score: context followed by the new points."""
        x = self.detector._check_input(new)
        return np.concatenate([self.context, x])

    def advance(self, full: FloatArray, n_new: int, scores: FloatArray) -> FloatArray:
        """Keep the tail of ``full`` as the next context and return the new points' scores."""
        width = self.detector.context_length
        self.context = full[max(len(full) - width, 0) :] if width else full[:0]
        return scores[len(scores) - n_new :]

    def update(self, new: npt.ArrayLike) -> FloatArray:
        """Score new points of this series."""
        full = self.window_for(new)
        n_new = len(full) - len(self.context)
        return self.advance(full, n_new, self.detector.score(full))

    @staticmethod
    def update_many(
        scorers: Sequence[StreamScorer],
        news: Sequence[npt.ArrayLike],
        *,
        pool: Executor | None = None,
        parts: int = 1,
    ) -> list[FloatArray]:
        """Score new points of many series, grouped by detector class into batched calls.

        With a ``pool`` and ``parts > 1``, the batch of a class with ``split_batches`` runs on
        up to ``parts`` threads at once (the calling thread and ``parts - 1`` of ``pool``'s),
        cut into smaller pieces that they take in turn; the scores do not depend on it.
        """
        fulls = [s.window_for(n) for s, n in zip(scorers, news, strict=True)]
        out: list[FloatArray | None] = [None] * len(scorers)
        groups: dict[type[Detector], list[int]] = {}
        for i, s in enumerate(scorers):
            groups.setdefault(type(s.detector), []).append(i)
        for cls, idx in groups.items():
            items = [(scorers[i].detector, fulls[i]) for i in idx]
            scores = _score_in_parts(cls, items, pool, parts)
            for i, sc in zip(idx, scores, strict=True):
                n_new = len(fulls[i]) - len(scorers[i].context)
                out[i] = scorers[i].advance(fulls[i], n_new, sc)
        return [o for o in out if o is not None]


#: fewer series than this per part, a batch is not split across threads
SPLIT_MIN_SERIES = 16
#: a split batch is cut into this many parts per thread, which the threads take in turn: one
#: thread that finishes early (cheaper series, or the other was descheduled) takes the rest
PARTS_PER_THREAD = 4


def _score_in_parts(
    cls: type[Detector],
    items: list[tuple[Detector, FloatArray]],
    pool: Executor | None,
    threads: int,
) -> list[FloatArray]:
    """``cls._score_many(items)``, in parts on ``pool``'s threads and this one when it pays."""
    threads = min(threads, len(items) // SPLIT_MIN_SERIES)
    if pool is None or threads < 2 or not cls.split_batches:
        return cls._score_many(items)
    n_parts = min(threads * PARTS_PER_THREAD, len(items) // SPLIT_MIN_SERIES)
    bounds = np.linspace(0, len(items), n_parts + 1).round().astype(int).tolist()
    parts = [items[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    done: list[list[FloatArray]] = [[] for _ in parts]
    todo = iter(range(len(parts)))
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            done[i] = cls._score_many(parts[i])

    helpers = [pool.submit(drain) for _ in range(threads - 1)]
    drain()
    for helper in helpers:
        helper.result()
    return [scores for part in done for scores in part]
