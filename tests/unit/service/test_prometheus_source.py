"""``anomalyd.service.prometheus_source``: chunking of a range query and what failures say (the real
Prometheus round trip is in ``tests/integration/test_prometheus.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from anomalyd.service.cli import app
from anomalyd.service.prometheus_source import (
    MAX_POINTS,
    PrometheusSourceError,
    RangeQuery,
    chunks,
    fetch,
)
from tests.integration._server import free_port


@given(
    start=st.integers(0, 2_000_000_000),
    steps=st.integers(0, 50_000),
    step=st.sampled_from([1.0, 15.0, 60.0, 0.5]),
    most=st.integers(1, MAX_POINTS),
)
@settings(max_examples=200, deadline=None)
def test_chunks_cover_the_grid_once(start: int, steps: int, step: float, most: int) -> None:
    end = start + steps * step
    got = chunks(float(start), end, step, most)
    grid = [start + k * step for k in range(steps + 1)]
    covered = [t for first, last in got for t in _grid(first, last, step)]
    assert covered == grid
    assert all(round((last - first) / step) + 1 <= most for first, last in got)


def _grid(first: float, last: float, step: float) -> list[float]:
    return [first + k * step for k in range(round((last - first) / step) + 1)]


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [(10.0, 5.0, 1.0, "--end must not be before --start"), (0.0, 5.0, 0.0, "positive")],
)
def test_bad_ranges_say_what_to_fix(start: float, end: float, step: float, message: str) -> None:
    with pytest.raises(PrometheusSourceError, match=message):
        chunks(start, end, step)


def test_an_unreachable_prometheus_is_retried_then_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusSourceError, match=r"cannot reach .* \(after 2 retries\)"):
        fetch(RangeQuery(url, "up", 0.0, 60.0, 15.0), retries=2, backoff=0.01)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus", "http://x:9090"], "--prometheus needs --query, --start, --end"),
        (["--query", "up"], "go with --prometheus URL"),
        ([], "give CSV or Parquet sources"),
        (
            [
                "--prometheus",
                "http://x",
                "--query",
                "up",
                "--start",
                "0",
                "--end",
                "60",
                "--step",
                "fortnight",
            ],
            "A duration is a number and a unit",
        ),  # fmt: skip
    ],
)
def test_backfill_options_for_prometheus_say_what_is_missing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["backfill", "--output", str(tmp_path / "o.csv"), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_malformed_url_is_named() -> None:
    with pytest.raises(PrometheusSourceError, match="is not a URL"):
        fetch(RangeQuery("http://[::1", "up", 0.0, 60.0, 15.0), retries=0)
