"""Evaluation metrics for time-series anomaly detection.

Exact, fast re-implementations: PATE equals PyPI ``PATE==0.1.1`` and VUS-PR / VUS-ROC equal
TSB-AD's ``generate_curve(..., version='opt', thre=250)`` to 1e-9. Scores follow the
convention "higher = more anomalous"; labels are 0/1 per point. ``alert_metrics`` judges the
one threshold the service alerts on (false-alarm rate, event recall); ``constant_scores``
flags a dead model.
"""

from anomalyd.metrics.alerts import alert_metrics, band_precision, constant_scores
from anomalyd.metrics.basic import auc_pr, auc_roc, best_f1, pa_f1
from anomalyd.metrics.evaluate import evaluate
from anomalyd.metrics.pate import pate, pate_f1
from anomalyd.metrics.vus import VusSurface, vus_pr, vus_roc, vus_surface
from anomalyd.metrics.window import sliding_window

__all__ = [
    "alert_metrics",
    "band_precision",
    "auc_pr",
    "auc_roc",
    "best_f1",
    "constant_scores",
    "evaluate",
    "pa_f1",
    "pate",
    "pate_f1",
    "sliding_window",
    "VusSurface",
    "vus_pr",
    "vus_roc",
    "vus_surface",
]
