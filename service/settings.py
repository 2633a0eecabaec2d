"""Service settings: ``ANOMALYD_*`` environment variables, built by the CLI / app factory.

Nothing here is read at import time: call :func:`load_settings` (or build :class:`Settings`
directly in tests) and pass the object down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from anomalyd.detectors.registry import DEFAULT_DETECTOR
from anomalyd.service.series import SeriesConfig


class Settings(BaseSettings):
    """Every tunable of the service; environment variables are ``ANOMALYD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="ANOMALYD_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Directory of the SQLite store.")
    api_token: SecretStr | None = Field(
        None,
        min_length=1,  # an empty token would refuse every write
        description="When set, write endpoints require `Authorization: Bearer <token>`.",
    )

    default_detector: str = Field(DEFAULT_DETECTOR, description="Detector of new series.")
    default_params: dict[str, Any] = Field(default_factory=dict)
    default_train_points: int = Field(
        2016,
        ge=1,
        le=1_000_000,
        description="Longest training span in points (2016 = a week at 5-minute steps). The "
        "first model fits after 256 points, the next at 512, then every refit_every points.",
    )
    default_refit_every: int = Field(
        288,
        ge=0,
        description="Refit on the trailing span every this many points (288 = a day at 5-minute "
        "steps); 0 = stop refitting once the span is full. Alerted points stay out of the next "
        "span; a change that keeps alerting this long becomes the new normal.",
    )
    default_quantile: float = Field(
        0.995,
        ge=0.5,
        le=1.0,
        description="anomaly_score 1.0 is this quantile of normal scores: 1 - quantile is the "
        "target false-alarm rate per point.",
    )

    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Request body limit.")
    max_decompressed_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="A remote-write body after snappy.",
    )
    max_points_per_request: int = Field(100_000, ge=1)
    max_scores_per_query: int = Field(100_000, ge=1)

    queue_capacity: int = Field(
        1_000_000, ge=1, description="Points accepted but not yet scored, over all series."
    )
    batch_max_points: int = Field(100_000, ge=1, description="Points per scoring batch.")
    batch_linger_s: float = Field(
        0.002,
        ge=0.0,
        description="Wait to gather a batch while writes keep coming (after an idle spell of "
        "25 lingers, a write is scored at once).",
    )
    score_wait_timeout_s: float = Field(
        10.0, ge=0.0, description="How long a REST write waits for its scores."
    )
    fit_workers: int = Field(1, ge=1)
    score_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads one scoring batch runs on (detectors whose compiled scoring "
        "releases the GIL score parts of a batch at once; 1 = the scheduler thread only).",
    )
    fit_batch_max: int = Field(
        64,
        ge=1,
        description="Series fitted together in one batch when fits queue up (warm-up of many "
        "series: the autoencoders train stacked).",
    )
    worker_threads: int = Field(
        64, ge=4, description="Threads serving sync routes (writes wait there for scores)."
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After of a 429.")
    remote_write_replica_label: str = Field(
        "",
        description="HA Prometheus pairs: this label (e.g. `__replica__`, `prometheus_replica`) "
        "is dropped from a remote-write series' identity, and per series one replica's samples "
        "are kept (the first seen; another after `remote_write_failover_s`). Empty: off.",
    )
    remote_write_future_s: float = Field(
        600.0,
        ge=0,
        description="Remote-write samples and REST points more than this many seconds ahead of "
        "the service's clock are refused (too_far_in_future; a 422 over REST): one would make "
        "every later sample of its series out of order (Mimir's creation grace period is 10 "
        "minutes).",
    )
    remote_write_failover_s: float = Field(
        30.0,
        gt=0,
        description="Seconds of sample time without samples from a series' elected replica "
        "after which another replica is elected.",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    sqlite_cache_mb: int = Field(
        2,
        ge=1,
        description="Page cache of the SQLite writer connection, in MiB (SQLite's default; "
        "the memory it takes is bounded by this).",
    )

    def series_config(self) -> SeriesConfig:
        """The configuration of a series created by a write (the ``default_*`` fields)."""
        return SeriesConfig(
            self.default_detector,
            dict(self.default_params),
            self.default_train_points,
            self.default_refit_every,
            self.default_quantile,
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit ``overrides`` (CLI flags) winning."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
