"""Evaluation metrics for time-series anomaly detection.

Exact, fast re-implementations: PATE equals PyPI ``PATE==0.1.1`` and VUS-PR / VUS-ROC equal
TSB-AD's ``generate_curve(..., version='opt', thre=250)`` to 1e-9. Scores follow the
convention "higher = more anomalous"; labels are 0/1 per point.
"""

from metrics.basic import auc_pr, auc_roc, best_f1, pa_f1
from metrics.evaluate import evaluate
from metrics.pate import pate, pate_f1
from metrics.vus import vus_pr, vus_roc
from metrics.window import sliding_window

__all__ = [
    "auc_pr",
    "auc_roc",
    "best_f1",
    "evaluate",
    "pa_f1",
    "pate",
    "pate_f1",
    "sliding_window",
    "vus_pr",
    "vus_roc",
]
