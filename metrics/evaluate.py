"""All metrics of one scored series in one call."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from anomalyd.metrics._validation import check_int, check_labels_scores
from anomalyd.metrics.basic import auc_pr, auc_roc, best_f1, pa_f1
from anomalyd.metrics.pate import pate
from anomalyd.metrics.vus import vus
from anomalyd.metrics.window import sliding_window


def evaluate(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    window: int | None = None,
    values: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Return every metric of ``scores`` against ``labels``.

    ``window`` is the VUS buffer size (int >= 0). Leave it ``None`` and pass ``values`` (the
    data that was scored: 1-D, or 2-D with the first channel used) to get TSB-AD's per-series
    choice, ``sliding_window(values)``; on the benchmark pass the whole series (training prefix
    included), as TSB-AD does, even when ``labels``/``scores`` cover only the test part. With
    neither, ``ValueError``: the window changes VUS a lot, so it is never guessed.

    Keys:

    * ``vus_pr``, ``vus_roc``: TSB-AD's VUS with ``window`` (``anomalyd.metrics.vus``).
    * ``pate``: PATE with ``e_buffer = d_buffer = window``, ``include_zero=False``,
      ``big_data=False`` (one buffer pair, every distinct score a threshold) — the setting of
      the PATE paper's experiments, tied to the same window as VUS.
    * ``auc_roc``, ``auc_pr``, ``best_f1``, ``pa_f1``: point-wise metrics
    (``anomalyd.metrics.basic``).
    * ``window``: the window used.

    Metrics that are undefined for single-class labels (``vus_*``, ``auc_*``) are ``nan``.
    """
    lab, sc = check_labels_scores(labels, scores)
    win = _resolve_window(window, values)
    pr, roc = vus(lab, sc, window=win)
    return {
        "vus_pr": pr,
        "vus_roc": roc,
        "pate": _pate(lab, sc, win),
        "auc_roc": auc_roc(lab, sc),
        "auc_pr": auc_pr(lab, sc),
        "best_f1": best_f1(lab, sc),
        "pa_f1": pa_f1(lab, sc),
        "window": win,
    }


def _pate(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], window: int) -> float:
    """PATE in the paper-experiment setting, buffers equal to the VUS window."""
    return float(
        pate(
            labels,
            scores,
            e_buffer=window,
            d_buffer=window,
            include_zero=False,
            big_data=False,
        )
    )


def _resolve_window(window: int | None, values: npt.ArrayLike | None) -> int:
    """The explicit ``window`` if given, else ``sliding_window(values)``."""
    if window is not None:
        return check_int(window, "window", minimum=0)
    if values is None:
        raise ValueError(
            "Pass `window=` (the VUS buffer, an int >= 0) or `values=` (the scored series, "
            "to estimate it with `sliding_window`)."
        )
    return sliding_window(values)
