"""The detector contract: one place that says what a detector is and what a score means.

A detector is a small class.

* Its parameters are class fields, each declared once with ``param(default=..., doc=...)``; the
  class is a keyword-only dataclass whose ``__init__`` only stores them, and ``params`` lists
  them with their constraints.
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
* State saves to safetensors (arrays) + JSON (everything else) and loads back identically
  (``anomalyd.detectors.persistence``).

Beside the contract: ``fastpath`` (optional hooks of the fast streaming paths), ``streaming``
(``StreamScorer``, the incremental form that gives the same numbers as ``score``),
``calibration`` / ``crossfit`` (the alert line: raw scores into ``anomaly_score >= 0`` with 1.0
as the line, fitted on out-of-sample scores) and ``checks`` (``check_detector``, the shared
checks every registered detector passes).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, dataclass_transform

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import persistence
from anomalyd.detectors.calibration import Calibrator as Calibrator  # re-exported
from anomalyd.detectors.fastpath import FastPath
from anomalyd.detectors.params import Param as Param  # re-exported
from anomalyd.detectors.params import declared_params, param

FloatArray = npt.NDArray[np.float64]


class NotFittedError(RuntimeError):
    """Raised when a detector is used before ``fit``."""


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


@dataclass_transform(kw_only_default=True, eq_default=False, field_specifiers=(param, field))
class Detector(FastPath, abc.ABC):
    """Base class. Raw score: one float per point, **higher = more anomalous**, causal.

    Every subclass is a keyword-only dataclass: its parameters are fields declared once with
    :func:`~anomalyd.detectors.params.param`, and ``params`` lists them.
    """

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(kw_only=True, eq=False)(cls)
        cls.params = declared_params(cls)

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

    def load_weights(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Load the pretrained weights ``fit`` will need (THEMIS: the Chronos encoder) now, so
        that missing ones are reported before any work. Raises ImportError when an optional
        extra is missing and ``_chronos.ModelUnavailableError`` when weights cannot be loaded;
        a no-op for detectors that learn everything from the data."""

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
        """Write ``state.safetensors`` + ``detector.json`` into directory ``path``
        (``registry.load`` reads it back). Raises NotFittedError before fit."""
        persistence.save(self, path)

    def to_bytes(self) -> tuple[str, bytes]:
        """``(detector.json text, state.safetensors bytes)`` of this fitted detector, in
        memory (``registry.from_bytes`` reads them back). Raises NotFittedError before fit."""
        return persistence.to_bytes(self)


def _is_array(value: object) -> bool:
    return isinstance(value, np.ndarray)


def init_param_names(cls: type[Detector]) -> list[str]:
    """Names of the keyword-only ``__init__`` parameters (the check suite compares them)."""
    sig = inspect.signature(cls.__init__)
    return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
