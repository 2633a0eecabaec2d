"""One ensemble per channel of a multivariate series, their scores joined across channels."""

from __future__ import annotations

from dataclasses import field
from typing import Any

import numpy as np

from anomalyd.detectors.base import Detector, FloatArray
from anomalyd.detectors.constant import ConstantLevel
from anomalyd.detectors.ensemble import DEFAULT_MEMBERS, DEFAULT_POINT, Ensemble, robust_scale
from anomalyd.detectors.params import param


class PerChannel(Detector):
    """An :class:`Ensemble` fitted on each channel alone; score = the mean of the ``top_k``
    highest channel scores, each rescaled on its own training span (median -> 0, ``quantile``
    -> 1). Higher = more anomalous.

    ``top_k=1`` is the maximum over channels (one channel out of its normal range is enough),
    ``top_k >= n_channels`` their mean. Channels constant over the training span (``flat_``)
    have no normal variation to learn from: together they score as one more channel, their
    :class:`~anomalyd.detectors.constant.ConstantLevel` departure (0 while every one holds its
    level, far above the line when one leaves it). When every channel is constant the fit is
    refused. A point with NaN in any channel scores NaN. The channel scales come from each
    ensemble's scores of its own training span (in-sample: a channel whose members fit it
    closely gets a smaller scale and wins the maximum a little more often). The ensembles'
    point members join without the out-of-sample balancing that ``crossfit`` gives a
    top-level ensemble.

    Attributes
    ----------
    channels_ : list of Ensemble, one per used channel
    used_ : ndarray of shape (n_used,)
        The indices of the channels scored by an ensemble.
    flat_ : ndarray of shape (n_flat,)
        The indices of the channels constant over the training span.
    level_ : ConstantLevel or None
        Their levels (None when no channel is constant).
    center_, scale_ : ndarray of shape (n_used,)
        Each channel score's training median and its ``quantile`` minus the median.
    """

    name = "perchannel"
    channels_: list[Ensemble] = field(init=False, repr=False)
    level_: ConstantLevel | None = field(init=False, repr=False, default=None)
    members: str = param(default=DEFAULT_MEMBERS, doc="each channel ensemble's window members")
    point: str = param(default=DEFAULT_POINT, doc="each channel ensemble's point member")
    top_k: int = param(default=1, doc="channel scores averaged, highest first (1: max)", minimum=1)
    quantile: float = param(
        default=0.99,
        doc="training quantile each channel's score maps to 1",
        minimum=0.5,
        maximum=1.0,
    )

    def _check_param_relations(self) -> None:
        self._new_channel().validate_params()

    def _new_channel(self) -> Ensemble:
        return Ensemble(members=self.members, point=self.point)

    def context_length_for_params(self) -> int:
        return self._new_channel().context_length_for_params()

    @property
    def context_length(self) -> int:
        self._check_fitted()
        return max(det.context_length for det in self.channels_)

    @property
    def echo_window(self) -> int:
        self._check_fitted()
        return max(det.echo_window for det in self.channels_)

    def prepare_streaming(self) -> None:
        """Prepare every channel's ensemble (off the scoring path)."""
        for det in self.channels_:
            det.prepare_streaming()

    def min_train_points(self) -> int:
        return self._new_channel().min_train_points()

    def _fit(self, x: FloatArray) -> None:
        lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
        self.used_, self.flat_ = np.flatnonzero(lo < hi), np.flatnonzero(lo == hi)
        if not len(self.used_):
            raise ValueError("every channel of `train` is constant: there is nothing to learn.")
        self.level_ = ConstantLevel().fit(x[:, self.flat_]) if len(self.flat_) else None
        self.channels_ = Ensemble.fit_many([(self._new_channel(), x[:, [c]]) for c in self.used_])
        train = self._channel_scores(x, standardise=False)
        scales = [robust_scale(row, float(self.quantile)) for row in train]
        self.center_ = np.array([c for c, _ in scales])
        self.scale_ = np.array([s for _, s in scales])

    def _channel_scores(self, x: FloatArray, standardise: bool = True) -> FloatArray:
        """Each used channel's score, shape (n_used, n_points)."""
        items = [(det, x[:, [c]]) for det, c in zip(self.channels_, self.used_, strict=True)]
        raw = np.array(Ensemble._score_many(items))
        return (raw - self.center_[:, None]) / self.scale_[:, None] if standardise else raw

    def _score(self, x: FloatArray) -> FloatArray:
        z = self._channel_scores(x)
        if self.level_ is not None:
            z = np.vstack([z, self.level_.score(x[:, self.flat_])])
        k = min(int(self.top_k), len(z))
        out: FloatArray = np.sort(z, axis=0)[-k:].mean(axis=0)
        out[np.isnan(x).any(axis=1)] = np.nan
        return out

    # channels saved under a prefix each, as the ensemble saves its members
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"used_": self.used_, "flat_": self.flat_}
        arrays.update(center_=self.center_, scale_=self.scale_)
        if self.level_ is not None:
            arrays.update({f"flat.{k}": v for k, v in self.level_.state_arrays().items()})
        for i, det in enumerate(self.channels_):
            arrays.update({f"c{i}.{k}": v for k, v in det.state_arrays().items()})
        return arrays

    def state_meta(self) -> dict[str, Any]:
        return {
            "n_channels_": self.n_channels_,
            "channels_": [d.state_meta() for d in self.channels_],
            "level_": None if self.level_ is None else self.level_.state_meta(),
        }

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.n_channels_ = int(meta["n_channels_"])
        self.used_, self.flat_ = arrays["used_"], arrays["flat_"]
        self.center_, self.scale_ = arrays["center_"], arrays["scale_"]
        self.channels_ = []
        for i, own_meta in enumerate(meta["channels_"]):
            det = self._new_channel()
            det.load_state(_prefixed(arrays, f"c{i}."), own_meta)
            self.channels_.append(det)
        self.level_ = None
        if meta["level_"] is not None:
            self.level_ = ConstantLevel()
            self.level_.load_state(_prefixed(arrays, "flat."), meta["level_"])


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays saved under ``prefix``, with the prefix taken off their names."""
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
