"""Detector parameters, each declared once: a class field with its type, default and constraint.

A detector writes ``window: int = param(default=64, doc="points per window", minimum=2)`` in its
body. The base class turns the fields into the keyword-only ``__init__`` (a dataclass) and into
``params``, the tuple of :class:`Param` that checks values (``"`window` must be an int >= 2.
Got 1 instead."``) and gives the JSON schema the registry, the API and the CLI show.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

#: key of a parameter field's metadata: the keyword arguments of its ``Param``
PARAM_KEY = "anomalyd.param"
_KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


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


def param(
    *,
    default: Any,
    doc: str,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A parameter field of a detector class: its default, meaning and allowed values.

    The field's annotation (``int``, ``float``, ``str`` or ``bool``) is its type. Typed ``Any``
    so that ``window: int = param(default=64, ...)`` reads as an ``int`` to a type checker.
    """
    spec = {"doc": doc, "minimum": minimum, "maximum": maximum, "choices": choices}
    return dataclasses.field(default=default, metadata={PARAM_KEY: spec})


def declared_params(cls: type) -> tuple[Param, ...]:
    """The ``Param`` of every parameter field of dataclass ``cls``, in field order.

    Raises TypeError for a field that ``__init__`` takes but that is not declared with
    ``param(...)`` (a fitted attribute annotated on the class, say): every keyword of a
    detector is a checked parameter.
    """
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(PARAM_KEY)
        if spec is None and f.init:
            raise TypeError(
                f"{cls.__name__}.{f.name} is a field without param(...): declare it with "
                "param(default, doc, ...), or annotate fitted attributes where they are set."
            )
        if spec is not None:
            out.append(Param(f.name, _kind_of(cls, f), f.default, **spec))
    return tuple(out)


def _kind_of(cls: type, f: dataclasses.Field[Any]) -> type:
    kind = _KINDS.get(f.type) if isinstance(f.type, str) else f.type
    if kind not in _KINDS.values():
        raise TypeError(
            f"{cls.__name__}.{f.name} must be annotated int, float, str or bool. "
            f"Got {f.type!r} instead."
        )
    return kind  # type: ignore[return-value]
