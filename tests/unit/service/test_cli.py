"""`anomalyd evaluate` end to end on a small CSV suite (real files, real detectors)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from anomalyd.service.cli import app, params_for, parse_params
from anomalyd.service.migrations import LATEST
from anomalyd.service.storage import DB_FILE, Store


def _write_suite(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        x = np.sin(np.arange(600) / 6) + 0.1 * rng.normal(size=600)
        labels = np.zeros(600, dtype=int)
        x[450:460] += 3
        labels[450:460] = 1
        rows = ["timestamp,value,label"] + [
            f"{i},{v},{y}" for i, (v, y) in enumerate(zip(x, labels, strict=True))
        ]
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")


def test_evaluate_writes_results_and_table(tmp_path: Path) -> None:
    _write_suite(tmp_path)
    out = tmp_path / "results.json"
    args = ["evaluate", "--suite", str(tmp_path), "--train-fraction", "0.5", "--output", str(out)]
    args += ["--detector", "mad", "--detector", "subpca", "--param", "mad.window=16"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [r["detector"] for r in doc["runs"]] == ["mad", "subpca"]
    assert doc["runs"][0]["params"] == {"window": 16} and doc["runs"][1]["params"] == {}
    for run in doc["runs"]:
        assert set(run["series"]) == {"a", "b"}
        assert 0.0 <= run["summary"]["vus_pr"] <= 1.0 and "pate" in run["summary"]
        alert_keys = {"false_alarm_rate", "false_alarm_rate_median", "event_recall"}
        assert alert_keys | {"alerts_per_1000"} <= set(run["summary"])
        assert run["summary"]["constant_series"] == 0
        assert all(per["constant_scores"] is False for per in run["series"].values())
    assert "mean over series" in result.output
    assert "false alarms" in result.output and "warning:" not in result.output


def test_evaluate_on_the_service_schedule(tmp_path: Path) -> None:
    _write_suite(tmp_path)
    out, store = tmp_path / "results.json", tmp_path / "data"
    args = ["evaluate", "--suite", str(tmp_path), "--train-fraction", "0.5", "--output", str(out)]
    args += ["--detector", "mad", "--param", "window=16", "--store", str(store)]
    args += ["--schedule", "service", "--fit-window", "200", "--fit-every", "50"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["schedule"] == {"kind": "service", "train_points": 200, "refit_every": 50}
    assert [per["models"] for per in doc["runs"][0]["series"].values()] == [6, 6]
    title = "the service's schedule: models on the last 200 points, refitted every 50 points"
    assert title in " ".join(result.output.split())
    from anomalyd.service.evaluations import EvaluationStore

    (stored,) = EvaluationStore(store).runs()
    assert stored["schedule"] == {"kind": "service", "train_points": 200, "refit_every": 50}


def test_a_failed_refit_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    from anomalyd.service.cli import _warn_failed
    from anomalyd.service.evaluation import ServiceSchedule, run_suite
    from anomalyd.service.suite import LabelledSeries

    x = np.random.default_rng(0).normal(size=(600, 2))
    x[400:, 1] = np.nan  # no whole window in the second channel: later refits cannot fit
    labels = np.zeros(600, dtype=int)
    labels[500] = 1
    suite = [LabelledSeries("gap", "s", x, labels, 300)]  # a suite file refuses NaN: built here
    doc = run_suite(suite, [("mad", {"window": 16})], schedule=ServiceSchedule(100, 50))
    per = doc["runs"][0]["series"]["gap"]
    assert per["refit_error"].startswith("fit failed") and per["models"] < 6
    _warn_failed(doc["runs"][0])
    expected = "warning: mad: 1 of 1 series had a refit that failed"
    assert expected in " ".join(capsys.readouterr().err.split())


def test_csv_folder_needs_train_fraction(tmp_path: Path) -> None:
    _write_suite(tmp_path)
    result = CliRunner().invoke(app, ["evaluate", "--suite", str(tmp_path), "--detector", "mad"])
    assert result.exit_code == 2
    assert "--train-fraction" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "nope"], "Unknown detector 'nope'. Known detectors: "),
        (["--detector", "mad", "--param", "window=2"], "`window` must be an int >= 3. Got 2"),
        (["--detector", "mad", "--param", "nosuch=3"], "Unknown parameter(s) nosuch for detector"),
        (["--detector", "mad", "--suite", "/no/such/folder"], "/no/such/folder is not a folder"),
        (["--detector", "mad", "--suite", "/no/[bold]/x"], "/no/[bold]/x is not a folder"),
        (["--detector", "mad", "--match", "no-such-series"], "no series left to evaluate"),
        (["--detector", "mad", "--param", "nope.window=3"], "'nope' is not a detector of this run"),
        (["--detector", "mad", "--output", "/no/such/r.json"], "needs a file name in an existing"),
        (["--detector", "mad", "--fit-every", "50"], "apply to --schedule service"),
        (["--detector", "mad", "--schedule", "service", "--fit-window", "5"], "at least 128"),
    ],
)
def test_mistakes_get_one_message_and_status_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    _write_suite(tmp_path)
    out = tmp_path / "results.json"
    base = ["evaluate", "--suite", str(tmp_path), "--train-fraction", "0.5", "--output", str(out)]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in " ".join(result.output.split())
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("command", ["evaluate", "backfill"])
def test_missing_model_weights_get_one_message(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # an empty cache: no network round trip
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("ANOMALYD_CHRONOS_MODEL", str(tmp_path / "no-such-model"))
    _write_suite(tmp_path)
    out = tmp_path / "r.json"
    args = {
        "evaluate": ["--suite", str(tmp_path), "--train-fraction", "0.5", "--output", str(out)],
        "backfill": [str(tmp_path / "a.csv"), "--output", str(out.with_suffix(".csv"))],
    }[command]
    result = CliRunner().invoke(app, [command, *args, "--detector", "themis"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith("error: Could not load the Chronos model")
    assert "Traceback" not in result.output
    assert not out.exists() and not out.with_suffix(".csv").exists()


def test_a_device_this_machine_lacks_gets_one_message(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    _write_suite(tmp_path)
    args = ["--suite", str(tmp_path), "--train-fraction", "0.5", "--output", str(tmp_path / "r")]
    result = CliRunner().invoke(
        app, ["evaluate", *args, "--detector", "themis", "--param", "device=cuda"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "CUDA" in result.output


def test_serve_refuses_a_newer_database_in_one_line(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--port", "1"])
    assert result.exit_code == 2, result.output
    expected = f"error: {tmp_path}: The database has schema version {LATEST + 1}"
    assert " ".join(result.output.split()).startswith(expected)


def test_serve_refuses_a_data_directory_in_use(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), "--port", "1"])
    finally:
        store.close()
    assert result.exit_code == 2, result.output
    assert f"error: {tmp_path} is in use by another anomalyd" in " ".join(result.output.split())


def test_serve_takes_its_data_directory_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    (elsewhere / "data").write_text("not a folder")  # ./data, if it were used, cannot open
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("ANOMALYD_DATA_DIR", str(tmp_path))
    store = Store(tmp_path)
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "1"])
    finally:
        store.close()
    assert result.exit_code == 2, result.output
    assert f"error: {tmp_path} is in use by another anomalyd" in " ".join(result.output.split())


SERVICE_COMMANDS = {
    "serve": ["serve", "--port", "1", "--data-dir"],
    "evaluate": ["evaluate", "--schedule", "service", "--train-fraction", "0.5", "--suite"],
    "backfill": ["backfill", "--output", "{tmp}/out.csv"],
}


@pytest.mark.parametrize("command", SERVICE_COMMANDS)
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ANOMALYD_DEFAULT_QUANTILE", "2", "ANOMALYD_DEFAULT_QUANTILE: "),
        ("ANOMALYD_API_TOKEN", "", "ANOMALYD_API_TOKEN: "),
        ("ANOMALYD_DEFAULT_PARAMS", "{bad", "ANOMALYD_DEFAULT_PARAMS: not valid JSON"),
    ],
)
def test_commands_name_a_refused_setting_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    variable: str,
    value: str,
    message: str,
) -> None:
    _write_suite(tmp_path)
    monkeypatch.setenv(variable, value)
    argv = [arg.format(tmp=tmp_path) for arg in SERVICE_COMMANDS[command]]
    result = CliRunner().invoke(app, [*argv, str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {message}")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.csv", "", "c.csv: the file is empty"),
        ("c.csv", "timestamp,value,label\n1,2,0\n1,x,0\n", "data row 2, column `value`: 'x'"),
        ("c.csv", "timestamp,value,label\n1,2,0\n1,,0\n", "c.csv: data row 2, column `value`: ''"),
        ("c.csv", "timestamp,a,b,label\n1,2,3,0\n1,2,nan,0\n", "data row 2, column `b`: 'nan'"),
        ("c.csv", "timestamp,value,label\n1,2,0\n1,2,2\n", "c.csv: data row 2: the label '2'"),
        ("c.csv", "timestamp,value,label\n1,2,0.5\n", "c.csv: data row 1: the label '0.5'"),
        ("c.csv", "timestamp,value,label\n1,2,0\n1,2\n", "c.csv: data row 2 has 2 cells"),
        ("c.csv", "timestamp,value\n1,2\n", "c.csv: no `label` column"),
        ("manifest.json", "{", "manifest.json: not a suite manifest"),
        ("manifest.json", '{"series": [{"name": "a"}]}', "manifest.json: not a suite manifest"),
    ],
)
def test_unreadable_suite_files_are_named(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    args = ["evaluate", "--suite", str(tmp_path), "--train-fraction", "0.5", "--detector", "mad"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_series_a_detector_cannot_score_are_counted(tmp_path: Path) -> None:
    _write_suite(tmp_path)  # 300-point training prefixes
    args = ["evaluate", "--suite", str(tmp_path), "--train-fraction", "0.5", "--detector", "mad"]
    result = CliRunner().invoke(
        app, [*args, "--param", "window=400", "--output", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: mad: 2 of 2 series could not be scored (not in the means); first: " in text


def test_params_parsing() -> None:
    parsed = parse_params(["window=32", "lof.n_neighbors=10", "normalize=window"])
    assert parsed == {"window": 32, "lof.n_neighbors": 10, "normalize": "window"}
    assert params_for("lof", parsed) == {"window": 32, "n_neighbors": 10, "normalize": "window"}
    assert params_for("mad", parsed) == {"window": 32, "normalize": "window"}
    with pytest.raises(Exception, match="key=value"):
        parse_params(["oops"])


def test_parallel_evaluation_gives_the_same_numbers(tmp_path: Path) -> None:
    from anomalyd.service.evaluation import run_suite
    from anomalyd.service.suite import load_suite

    _write_suite(tmp_path)
    suite = load_suite(tmp_path, train_fraction=0.5)
    runs = [("mad", {"window": 16})]
    one = run_suite(suite, runs)
    two = run_suite(suite, runs, jobs=2)
    for doc in (one, two):
        for per in doc["runs"][0]["series"].values():
            per.pop("fit_seconds"), per.pop("score_seconds")
        doc["runs"][0].pop("summary")
    assert one == two
