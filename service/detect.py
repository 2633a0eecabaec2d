"""Stateless scoring (``POST /v1/detect``): the same detector + calibrator path as a series."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.detectors.crossfit import fit_calibrated
from anomalyd.detectors.echo import Echo, suppress_echo
from anomalyd.service.faults import InvalidInput
from anomalyd.service.series import detector_class


@dataclass
class Detection:
    """Raw and calibrated scores of the scored points."""

    detector: str
    params: dict[str, Any]
    context_length: int
    raw: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]


def detect(
    name: str,
    params: dict[str, Any],
    values: npt.NDArray[np.float64],
    train: npt.NDArray[np.float64] | None,
    quantile: float,
) -> Detection:
    """Fit on ``train`` (or ``values``), calibrate on the fit span, score ``values`` causally.

    With ``train``, ``values`` is scored as its continuation (its first windows reach back into
    ``train``), exactly as a series that trained on ``train`` would score it.
    """
    detector_class(name)
    if train is not None and train.shape[1] != values.shape[1]:
        raise InvalidInput(
            f"train has {train.shape[1]} channel(s) per point but values has "
            f"{values.shape[1]}; both need the same shape."
        )
    fit_on = values if train is None else train
    try:
        fitted = fit_calibrated(registry.create(name, params), fit_on, quantile=quantile)
        det, cal = fitted.detector, fitted.calibrator
        full = values if train is None else np.concatenate([train, values])
        raw = det.score(full)[len(full) - len(values) :]
    except (TypeError, ValueError) as exc:
        where = "fitted on `values` (no `train` given): " if train is None else ""
        raise InvalidInput(f"{where}{exc}") from exc
    score, _ = suppress_echo(cal.transform(raw), 0, det.echo_window, Echo())
    return Detection(name, det.get_params(), det.context_length, raw, score)
