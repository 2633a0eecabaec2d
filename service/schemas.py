"""Request and response models of API v1 (requests and responses are separate classes)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, field_validator

from anomalyd.service.durations import DURATION_PATTERN
from anomalyd.service.series import MAX_TRAIN_POINTS, Status

Number = Annotated[float, Strict(), AllowInfNan(False)]
"""A finite JSON number (ints accepted; strings, booleans, NaN and Infinity refused)."""
Value = Number | list[Number]
"""A point: one number, or a list of numbers for a multivariate series."""
Timestamp = Number | str
"""Unix seconds, or an RFC 3339 time with an offset (``2024-05-01T12:00:00Z``)."""
StrictInt = Annotated[int, Strict()]
Points = StrictInt | str
"""A number of points, or a duration (``DURATION_PATTERN``) converted at the series' step."""


def _points_setting(value: Any, name: str, low: int, high: int | None) -> Any:
    """``value`` when it is None, an int in ``[low, high]`` or a duration; else ValueError."""
    if value is None or (isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value)):
        return value
    whole = isinstance(value, int) and not isinstance(value, bool)
    if whole and value >= low and (high is None or value <= high):
        return value
    bound = f"from {low} to {high:,}" if high is not None else f">= {low}"
    raise ValueError(
        f"`{name}` must be an int {bound} or a duration such as '7d' or '1h' (a number and a "
        f"unit s, m, h, d or w). Got {value!r} instead."
    )


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- series
class SeriesConfigRequest(_Request):
    """Body of ``PUT /v1/series/{series_id}``; a missing field takes the service default."""

    detector: str | None = Field(None, description="Registry name (GET /v1/detectors).")
    params: dict[str, Any] | None = Field(None, description="Detector parameters.")
    train_points: Points | None = Field(
        None,
        description="Points each model trains on (the latest before a refit), or a duration "
        "such as '7d', converted at the series' step.",
        examples=[2016, "7d"],
    )
    refit_every: Points | None = Field(
        None,
        description="Refit on the latest train_points every this many points (or a duration "
        "such as '1d'); 0 = never.",
        examples=[288, "1d"],
    )
    quantile: Annotated[Number, Field(ge=0.5, le=1.0)] | None = Field(
        None,
        description="Training-score quantile that maps to anomaly_score 1.0; 1 - quantile is the "
        "target false-alarm rate per point, at least 1e-9 (1.0 is read as 1 - 1e-9).",
    )
    labels: dict[str, str] | None = Field(
        None, description="Extra labels of the series' /metrics gauges (REST series only)."
    )

    @field_validator("train_points", mode="before")
    @classmethod
    def _train_points(cls, value: Any) -> Any:
        return _points_setting(value, "train_points", 1, MAX_TRAIN_POINTS)

    @field_validator("refit_every", mode="before")
    @classmethod
    def _refit_every(cls, value: Any) -> Any:
        return _points_setting(value, "refit_every", 0, None)


class SeriesResponse(BaseModel):
    """A series: configuration, status and progress."""

    id: str
    labels: dict[str, str]
    source: str
    detector: str
    params: dict[str, Any]
    train_points: int
    refit_every: int
    quantile: float
    status: Status
    fitting: bool = Field(
        description="A model fit is running (the first, or a refit while `status` is ready); "
        "points after its boundary wait as `pending` until it ends."
    )
    points: int = Field(description="Points stored.")
    scored: int = Field(description="Points with final scores (null during warm-up).")
    pending: int = Field(description="Points stored but not scored yet.")
    n_channels: int | None
    last_timestamp: float | None
    last_anomaly_score: float | None
    last_raw_score: float | None
    model_version: int
    model_detector: str | None = Field(
        description="Detector of the current model: `constant` when the training span had one "
        "value (any departure from it alerts), else the configured detector."
    )
    calibration: str | None = Field(
        description="How the current alert line was fitted (cross-fitted folds, in-sample on a "
        "span too short for folds, or a constant span)."
    )
    model_start: int | None = Field(description="Index of the first point the model scores.")
    next_refit: int | None = Field(
        description="Index of the point where the next model takes over (null: no more refits)."
    )
    error: str | None
    created_at: float


class SeriesListResponse(BaseModel):
    """All series and how many are in each status."""

    series: list[SeriesResponse]
    counts: dict[str, int]


class StatsResponse(BaseModel):
    """Totals over every series."""

    series: int
    counts: dict[str, int] = Field(description="Series per status.")
    points_stored: int
    points_scored: int = Field(description="Points with final scores (null during warm-up).")
    points_pending: int = Field(description="Points stored but not scored yet.")


# ---------------------------------------------------------------------- points and scores
class PointsRequest(_Request):
    """Body of ``POST /v1/series/{series_id}/points``."""

    timestamps: list[Timestamp] = Field(min_length=1)
    values: list[Value] = Field(min_length=1)


class PointScore(BaseModel):
    """Scores of one written point; null while the series warms up (or the score is pending)."""

    timestamp: float
    anomaly_score: float | None
    raw_score: float | None
    anomalous: bool | None


class PointsResponse(BaseModel):
    """What a write stored, with the scores of its points."""

    series: str
    accepted: int = Field(description="New points stored.")
    duplicates: int = Field(description="Points already stored with the same value (no-op).")
    status: Status
    pending: int = Field(description="Points of this write whose score is not computed yet.")
    scores: list[PointScore]


class ScoredPoint(BaseModel):
    """A stored point with its scores."""

    timestamp: float
    value: float | list[float]
    anomaly_score: float | None
    raw_score: float | None
    anomalous: bool | None


class ScoresResponse(BaseModel):
    """``GET /v1/series/{series_id}/scores``."""

    series: str
    status: Status
    points: list[ScoredPoint]
    truncated: bool = Field(description="True when `limit` cut the answer short.")


class AlertRunModel(BaseModel):
    """Consecutive points with ``anomaly_score > 1``."""

    start: float = Field(description="First alerting point's timestamp (Unix seconds).")
    end: float = Field(description="Last alerting point's timestamp (Unix seconds).")
    points: int = Field(description="Alerting points in the run.")
    peak: float = Field(description="Highest anomaly_score in the run.")
    severity: Literal["warning", "critical"] = Field(
        description="critical when the peak is above 2 (as rare as the alert line squared)."
    )


class AlertsResponse(BaseModel):
    """``GET /v1/series/{series_id}/alerts``: alert runs in a time range, at full resolution."""

    series: str
    alerts: list[AlertRunModel]


class ChartResponse(BaseModel):
    """``GET /v1/series/{series_id}/chart``: a time range thinned for drawing (columns)."""

    series: str
    status: Status
    total: int = Field(description="Stored points in the range, before thinning.")
    downsampled: bool = Field(description="True when fewer points are returned than stored.")
    timestamps: list[float] = Field(description="Unix seconds, increasing.")
    values: list[list[float | None]] = Field(
        description="One list per channel, aligned with `timestamps` (null: missing)."
    )
    anomaly_score: list[float | None] = Field(description="Null during warm-up / not scored.")
    alerts: list[AlertRunModel] = Field(description="Alert runs over every point in the range.")


class EvaluationSchedule(BaseModel):
    """How a stored run scored each series after its training prefix."""

    kind: Literal["prefix", "service"] = Field(
        "prefix",
        description="prefix: one model fitted on the training prefix; service: refitted as "
        "the service does (`anomalyd evaluate --schedule service`; the published reference "
        "rows are not).",
    )
    train_points: int | None = Field(None, description="service: the training span, points.")
    refit_every: int | None = Field(None, description="service: the refit period, points.")


class EvaluationSummary(BaseModel):
    """A stored evaluation run (``anomalyd evaluate --store DATA_DIR``)."""

    id: str
    created_at: float = Field(description="Unix seconds.")
    suite: str = Field(description="The folder evaluated.")
    detectors: list[str]
    series: int
    schedule: EvaluationSchedule


class EvaluationsResponse(BaseModel):
    """``GET /v1/evaluations``: stored runs, newest first."""

    evaluations: list[EvaluationSummary]


class LeaderboardRow(BaseModel):
    """One detector's means over the series it scored, overall (``"all"``) and per source."""

    detector: str
    params: dict[str, Any]
    reference: bool = Field(description="A published row (TSB-AD), VUS-PR only.")
    n: int = Field(description="Series with a VUS-PR (the means are over these).")
    cells: dict[str, dict[str, float | None]] = Field(
        description="metric -> ('all' or source) -> mean; null where there is none."
    )
    series: dict[str, dict[str, Any]] = Field(
        description="Per series: every figure `evaluate` measured (empty for reference rows)."
    )
    errors: dict[str, str] = Field(description="Series the detector could not score: why.")


class LeaderboardResponse(BaseModel):
    """``GET /v1/evaluations/{run_id}``: detectors x sources."""

    id: str
    created_at: float
    suite: str
    sources: list[str]
    series_sources: dict[str, str] = Field(description="Each series' source.")
    metrics: list[str] = Field(
        description="Column order; higher is better except false alarms, alerts and fit time."
    )
    rows: list[LeaderboardRow]
    schedule: EvaluationSchedule


class EvaluatedSeriesResponse(BaseModel):
    """``GET /v1/evaluations/{run_id}/series/{series}``: rows of an evaluated series, thinned
    for drawing (columns; x = row index)."""

    run: str
    series: str
    source: str
    train_end: int = Field(
        description="First measured row (the first model trained on rows before it)."
    )
    total: int = Field(description="Rows in the range, before thinning.")
    x: list[int] = Field(description="Row indices, increasing.")
    values: list[list[float | None]] = Field(description="One list per channel, aligned with x.")
    label_spans: list[list[int]] = Field(description="Labelled anomalies: [first, last] rows.")
    scores: dict[str, list[float | None]] = Field(
        description="Per detector: anomaly_score aligned with x (null on the training rows)."
    )
    alerts: dict[str, list[AlertRunModel]] = Field(
        description="Per detector: runs of anomaly_score > 1 in the range (start/end are rows)."
    )
    figures: dict[str, dict[str, Any]] = Field(description="Per detector: the series' figures.")
    errors: dict[str, str] = Field(
        description="Detectors that could not score the series, with the reason (no scores)."
    )


class DetectorCurves(BaseModel):
    """The curves behind one detector's AUC-PR and VUS-PR on one series (measured rows)."""

    auc_pr: float
    recall: list[float] = Field(description="Point-wise PR curve (thinned), by recall.")
    precision: list[float]
    window: int = Field(description="Largest VUS buffer (the series' sliding window).")
    vus_pr: float = Field(description="Mean of buffer_ap: the leaderboard's VUS-PR.")
    buffers: list[int] = Field(description="Buffer lengths drawn (slices of the surface).")
    vus_recall: list[list[float]] = Field(description="Per drawn buffer: range-based recall.")
    vus_precision: list[list[float]] = Field(description="Per drawn buffer: precision.")
    buffer_ap: list[float] = Field(description="Area under every buffer's curve, 0..window.")


class CurvesResponse(BaseModel):
    """``GET /v1/evaluations/{run_id}/series/{series}/curves``."""

    run: str
    series: str
    curves: dict[str, DetectorCurves]
    errors: dict[str, str] = Field(
        description="Detectors that could not score the series, with the reason (no curves)."
    )


# ---------------------------------------------------------------------- detect / detectors
class DetectRequest(_Request):
    """Stateless scoring: fit on ``train`` (or on ``values`` itself) and score ``values``."""

    detector: str | None = None
    params: dict[str, Any] | None = None
    values: list[Value] = Field(min_length=1)
    train: list[Value] | None = Field(
        None, description="Normal history to fit on; it also gives the first windows context."
    )
    quantile: Annotated[Number, Field(ge=0.5, le=1.0)] = 0.995


class DetectResponse(BaseModel):
    """Scores of every point of ``values`` (null before the first full window)."""

    detector: str
    params: dict[str, Any]
    context_length: int
    threshold: float = 1.0
    raw_scores: list[float | None]
    anomaly_scores: list[float | None]
    anomalous: list[bool | None]


class DetectorInfo(BaseModel):
    """One registered detector."""

    name: str
    default: bool
    available: bool
    error: str | None = None
    params_schema: dict[str, Any] | None = None


class DetectorsResponse(BaseModel):
    """``GET /v1/detectors``."""

    default: str
    detectors: list[DetectorInfo]


class HealthResponse(BaseModel):
    """``/healthz`` and ``/readyz``."""

    status: str
    series: int | None = None
    queue_depth: int | None = None
