"""``anomalyd backfill --resume``: the job table beside the output keeps every series scored, so
an interrupted run (SIGTERM, SIGKILL) continues without scoring a series twice or losing one."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from anomalyd.service.backfill import BackfillError, Schedule, run
from anomalyd.service.backfill_jobs import JobTable, table_path
from anomalyd.service.backfill_output import Scored
from anomalyd.service.cli import app
from anomalyd.service.series import SeriesConfig
from anomalyd.service.settings import Settings
from tests.unit.service.test_backfill import SCHEDULE, write_series

COMMAND = [sys.executable, "-c", "from anomalyd.service.cli import main; main()", "backfill"]
FAST = ["--detector", "mad", "--param", "window=16", "--fit-window", "2000", "--fit-every", "1000"]


class Heard:
    """A progress reporter that records which series were resumed."""

    def __init__(self) -> None:
        self.started: tuple[int, int] | None = None
        self.resumed: dict[str, bool] = {}

    def start(self, series: int, points: int) -> None:
        self.started = (series, points)

    def advance(self, one: Scored, resumed: bool) -> None:
        self.resumed[one.name] = resumed


def _folder(tmp_path: Path, values: np.ndarray, n: int) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(n):
        write_series(folder / f"s{i:02d}.csv", values[i * 5 :] * (1 + i))
    return folder


def _setup(tmp_path: Path, values: np.ndarray, n: int) -> tuple[Path, SeriesConfig, Path]:
    """``n`` series in a folder, the service's default configuration, and the output."""
    base = Settings(data_dir=tmp_path / "d").series_config()
    return _folder(tmp_path, values, n), base, tmp_path / "out.csv"


def _held(output: Path) -> list[str]:
    with sqlite3.connect(table_path(output)) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM scored ORDER BY name")]


def test_resume_scores_only_what_the_table_lacks(series_values: np.ndarray, tmp_path: Path) -> None:
    folder, base, out = _setup(tmp_path, series_values, 3)
    _interrupted_after(folder, out, base, SCHEDULE, 2)
    heard = Heard()
    with pytest.raises(BackfillError, match="holds the series an interrupted run"):
        run([folder], out, base, SCHEDULE, progress=heard)
    assert heard.started is None and _held(out) == ["s00", "s01"] and not out.exists()
    summary = run([folder], out, base, SCHEDULE, progress=heard, resume=True)
    assert heard.resumed == {"s00": True, "s01": True, "s02": False} and summary.resumed == 2
    run([folder], tmp_path / "whole.csv", base, SCHEDULE)
    assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert not table_path(out).exists()


def test_a_killed_run_resumed_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = _folder(tmp_path, np.cumsum(rng.normal(size=20_060)) * 0.1, 10)
    whole, out = tmp_path / "whole.csv", tmp_path / "out.csv"
    subprocess.run([*COMMAND, str(folder), "--output", str(whole), *FAST], check=True)
    for stop, resume, held in ((signal.SIGKILL, [], 2), (signal.SIGTERM, ["--resume"], 4)):
        proc = subprocess.Popen(
            [*COMMAND, str(folder), "--output", str(out), *FAST, *resume],
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_held(out, proc, held)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
        if stop == signal.SIGTERM:
            assert proc.returncode == 130 and "run the same command with --resume" in err, err
        kept = _held(out)
        assert held <= len(kept) < 10 and not out.exists()
        assert [p.name for p in tmp_path.glob("*.partial")] == []
    args = ["backfill", str(folder), "--output", str(out), *FAST, "--resume"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{len(kept)} series were scored by the interrupted run" in result.output
    assert out.read_bytes() == whole.read_bytes()
    assert not table_path(out).exists()


def _wait_for_held(output: Path, proc: subprocess.Popen[str], n: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if table_path(output).exists() and len(_held(output)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"the run did not keep {n} series (exit {proc.poll()})")


def test_a_resumed_series_whose_data_or_settings_changed_is_scored_again(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    folder, base, out = _setup(tmp_path, series_values, 3)
    _interrupted_after(folder, out, base, SCHEDULE, 3)
    write_series(folder / "s01.csv", series_values[5:] * 7)  # changed since
    heard = Heard()
    run([folder], out, base, SCHEDULE, progress=heard, resume=True)
    assert heard.resumed == {"s00": True, "s01": False, "s02": True}
    _interrupted_after(folder, out, base, SCHEDULE, 3)
    other = Schedule("mad", {"window": 6}, SCHEDULE.fit_window, SCHEDULE.fit_every)
    heard = Heard()
    run([folder], out, base, other, progress=heard, resume=True)
    assert not any(heard.resumed.values())
    run([folder], tmp_path / "fresh.csv", base, other)
    assert out.read_bytes() == (tmp_path / "fresh.csv").read_bytes()


class _Stop(Exception):
    pass


class _StopAfter(Heard):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def start(self, series: int, points: int) -> None:
        if self.n == 0:
            raise _Stop

    def advance(self, one: Scored, resumed: bool) -> None:
        super().advance(one, resumed)
        if len(self.resumed) == self.n:
            raise _Stop


def _interrupted_after(folder: Path, out: Path, base: object, schedule: Schedule, n: int) -> None:
    """A run stopped once ``n`` series are in the job table (before the output is written)."""
    out.unlink(missing_ok=True)
    with pytest.raises(_Stop):
        run([folder], out, base, schedule, progress=_StopAfter(n), resume=True)  # type: ignore[arg-type]
    assert len(_held(out)) == n and not out.exists()


def test_a_run_stopped_before_any_series_leaves_no_table(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    folder, base, out = _setup(tmp_path, series_values, 2)
    with pytest.raises(_Stop):
        run([folder], out, base, SCHEDULE, progress=_StopAfter(0))
    assert not table_path(out).exists()


def test_a_file_in_the_tables_place_that_is_not_one_is_named(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    out = tmp_path / "out.csv"
    table_path(out).write_text("not a database")
    args = ["backfill", str(src), "--output", str(out), "--resume", *FAST[:4]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "is not a backfill job table" in result.output, result.output


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    folder, base, out = _setup(tmp_path, series_values, 2)
    first = JobTable.open(out, resume=False)  # as a run in progress holds it
    try:
        for resume in (False, True):
            with pytest.raises(BackfillError, match="another backfill is writing this output"):
                run([folder], out, base, SCHEDULE, resume=resume)
    finally:
        first.close()
    assert table_path(out).exists() and not out.exists()


def test_a_damaged_row_of_the_table_is_scored_again(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    folder, base, out = _setup(tmp_path, series_values, 2)
    _interrupted_after(folder, out, base, SCHEDULE, 2)
    with sqlite3.connect(table_path(out)) as conn:
        conn.execute("UPDATE scored SET arrays = substr(arrays, 1, 100) WHERE name = 's00'")
    heard = Heard()
    run([folder], out, base, SCHEDULE, progress=heard, resume=True)
    assert heard.resumed == {"s00": False, "s01": True}
    run([folder], tmp_path / "fresh.csv", base, SCHEDULE)
    assert out.read_bytes() == (tmp_path / "fresh.csv").read_bytes()
