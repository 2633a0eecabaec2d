"""What ``anomalyd backfill`` writes besides CSV: Parquet, progress lines and the metrics file."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from anomalyd.service.backfill import run
from anomalyd.service.backfill_output import Scored
from anomalyd.service.backfill_progress import MetricsFile
from anomalyd.service.cli import app
from anomalyd.service.settings import Settings
from tests.unit.service.test_backfill import SCHEDULE, _col, read_output, write_series

ROOT = Path(__file__).resolve().parents[3]
FAST = ["--detector", "mad", "--param", "window=8", "--fit-window", "40", "--fit-every", "50"]


def test_parquet_holds_the_rows_csv_holds(series_values: np.ndarray, tmp_path: Path) -> None:
    write_series(tmp_path / "a.csv", series_values)
    write_series(tmp_path / "b.csv", series_values[::-1] * 3)
    base = Settings(data_dir=tmp_path / "d").series_config()
    sources = [tmp_path / "a.csv", tmp_path / "b.csv"]
    run(sources, tmp_path / "o.csv", base, SCHEDULE)
    run(sources, tmp_path / "o.parquet", base, SCHEDULE)
    rows, table = read_output(tmp_path / "o.csv"), pq.read_table(tmp_path / "o.parquet")
    got = table.to_pydict()
    assert table.column_names == list(rows[0])
    assert got["series"] == [r["series"] for r in rows]
    stamps = [t.timestamp() for t in got["timestamp"]]
    np.testing.assert_allclose(stamps, _col(rows, "timestamp"), rtol=0, atol=1e-6)
    for name in ("value", "raw_score", "anomaly_score"):
        cells = np.array([np.nan if v is None else v for v in got[name]], dtype=float)
        np.testing.assert_array_equal(cells, _col(rows, name), err_msg=name)
    flags = ["" if v is None else str(v) for v in got["anomalous"]]
    assert flags == [r["anomalous"] for r in rows] and "True" in flags


def test_several_value_columns_go_to_parquet_as_json_lists(tmp_path: Path) -> None:
    t = 1.7e9 + 60 * np.arange(120)
    lines = "".join(f"{s},{np.sin(i / 5)},{np.cos(i / 7)}\n" for i, s in enumerate(t))
    (tmp_path / "m.csv").write_text("timestamp,a,b\n" + lines)
    out = tmp_path / "m.parquet"
    result = CliRunner().invoke(app, ["backfill", str(tmp_path / "m.csv"), "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    values = pq.read_table(out).column("value").to_pylist()
    assert json.loads(values[3]) == [np.sin(3 / 5), np.cos(3 / 7)]


def test_off_a_terminal_progress_is_log_lines(series_values: np.ndarray, tmp_path: Path) -> None:
    for i in range(3):
        write_series(tmp_path / f"s{i}.csv", series_values)
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(app, ["backfill", str(tmp_path), "--output", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert "backfill: 3 series, 540 points" in result.output
    assert "backfill: 3/3 series, 540/540 points" in result.output


def test_the_metrics_file_follows_the_run(series_values: np.ndarray, tmp_path: Path) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    out, metrics = tmp_path / "o.csv", tmp_path / "backfill.prom"
    args = ["backfill", str(src), "-o", str(out), "--metrics-file", str(metrics), *FAST]
    assert CliRunner().invoke(app, args).exit_code == 0
    got = _samples(metrics)
    assert got["anomalyd_backfill_completed"] == 1.0
    assert got["anomalyd_backfill_series_done"] == got["anomalyd_backfill_series"] == 1.0
    assert got["anomalyd_backfill_points_done"] == 180.0
    assert got["anomalyd_backfill_last_progress_timestamp_seconds"] > 1.7e9
    rules = (ROOT / "deploy" / "prometheus" / "anomalyd-rules.yml").read_text()
    assert set(re.findall(r"anomalyd_backfill_\w+", rules)) <= set(got)  # the alert's metrics


def test_the_metrics_file_is_written_at_most_once_a_second(tmp_path: Path) -> None:
    now = [1000.0]
    file = MetricsFile(tmp_path / "m.prom", tmp_path / "o.csv", clock=lambda: now[0])
    one = Scored("s", np.zeros(5), np.zeros((5, 1)), np.zeros(5), np.zeros(5))
    file.start(3, 15)
    file.advance(one, False)
    assert _samples(tmp_path / "m.prom")["anomalyd_backfill_series_done"] == 0.0
    now[0] += 1.5
    file.advance(one, True)
    file.advance(one, False)  # the last series: written at once
    got = _samples(tmp_path / "m.prom")
    assert got["anomalyd_backfill_series_done"] == 3.0 and got["anomalyd_backfill_completed"] == 0
    assert got["anomalyd_backfill_last_progress_timestamp_seconds"] == 1001.5


def _samples(path: Path) -> dict[str, float]:
    families = text_string_to_metric_families(path.read_text())
    return {s.name: s.value for f in families for s in f.samples}


def test_a_linked_output_is_written_through_and_a_pipe_refused(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    (tmp_path / "real").mkdir()
    link = tmp_path / "latest.csv"
    link.symlink_to(tmp_path / "real" / "scores.csv")
    assert CliRunner().invoke(app, ["backfill", str(src), "-o", str(link), *FAST]).exit_code == 0
    assert link.is_symlink() and len(read_output(tmp_path / "real" / "scores.csv")) == 180
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = CliRunner().invoke(app, ["backfill", str(src), "-o", str(fifo), *FAST])
    assert result.exit_code == 2 and "is not a regular file" in result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_metrics_file_in_a_missing_folder_is_refused_up_front(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    args = ["backfill", str(src), "-o", str(tmp_path / "o.csv"), *FAST]
    result = CliRunner().invoke(app, [*args, "--metrics-file", str(tmp_path / "no" / "m.prom")])
    assert result.exit_code == 2 and "needs a file name in an existing folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]
