"""``anomalyd backfill``: the live service's scores for history, from CSV files."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from typer.testing import CliRunner

from anomalyd.service.backfill import BackfillError, Schedule, run
from anomalyd.service.backfill_engines import Engine
from anomalyd.service.cli import app
from anomalyd.service.settings import Settings
from tests.unit.service.conftest import PARAMS, TRAIN, ClientFactory, as_array, post, settle

STEP = 300  # 5-minute points
SCHEDULE = Schedule("mad", PARAMS, str(TRAIN), "50")


def write_series(path: Path, values: np.ndarray, t0: float = 1.7e9) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "label"])
        w.writerows([t0 + STEP * i, v, 0] for i, v in enumerate(values))
    return path


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _col(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return as_array([float(r[name]) if r[name] else None for r in rows])


def test_backfill_equals_the_streamed_service_across_refits(
    make_client: ClientFactory, series_values: np.ndarray, tmp_path: Path
) -> None:
    x = series_values
    with make_client() as client:
        cfg = {"detector": "mad", "params": PARAMS, "train_points": TRAIN, "refit_every": 50}
        client.put("/v1/series/s", json=cfg)
        for lo in range(0, len(x), 17):
            post(client, "s", 1.7e9 + STEP * np.arange(lo, min(lo + 17, len(x))), x[lo : lo + 17])
        settle(client, "s")
        pts = client.get("/v1/series/s/scores").json()["points"]
        models = client.get("/v1/series/s").json()["model_version"]
    out = tmp_path / "scores.csv"
    base = Settings(data_dir=tmp_path / "d").series_config()
    summary = run([write_series(tmp_path / "s.csv", x)], out, base, SCHEDULE)
    rows = read_output(out)
    assert summary.points == len(x) == len(rows) and summary.unscored == []
    assert models >= 3  # refitted along the way
    live_raw = as_array([p["raw_score"] for p in pts])
    live_score = as_array([p["anomaly_score"] for p in pts])
    np.testing.assert_allclose(_col(rows, "raw_score"), live_raw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(_col(rows, "anomaly_score"), live_score, rtol=0, atol=1e-9)
    assert [r["anomalous"] == "True" for r in rows] == [bool(s > 1) for s in live_score]
    assert rows[0]["series"] == "s" and float(rows[1]["timestamp"]) == 1.7e9 + STEP


def test_durations_are_converted_at_the_series_step(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    base = Settings(data_dir=tmp_path / "d").series_config()
    in_time = Schedule("mad", PARAMS, f"{TRAIN * 5}m", "250m")  # 40 and 50 points
    run([src], tmp_path / "a.csv", base, SCHEDULE)
    run([src], tmp_path / "b.csv", base, in_time)
    assert read_output(tmp_path / "a.csv") == read_output(tmp_path / "b.csv")


@pytest.mark.parametrize("engine", [Engine(jobs=2), Engine("ray", jobs=2)], ids=["local", "ray"])
def test_every_engine_gives_the_same_table(
    series_values: np.ndarray, tmp_path: Path, engine: Engine
) -> None:
    if engine.name == "ray":
        needs_ray()
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        write_series(folder / f"s{i}.csv", series_values[i * 10 :])
    base = Settings(data_dir=tmp_path / "d").series_config()
    run([folder], tmp_path / "one.csv", base, SCHEDULE)
    run([folder], tmp_path / "two.csv", base, SCHEDULE, engine=engine)
    assert read_output(tmp_path / "one.csv") == read_output(tmp_path / "two.csv")


@pytest.mark.parametrize("engine", [Engine(), Engine("ray", jobs=2)], ids=["local", "ray"])
def test_a_series_that_cannot_be_scored_is_named_by_every_engine(
    series_values: np.ndarray, tmp_path: Path, engine: Engine
) -> None:
    if engine.name == "ray":
        needs_ray()
    for name in ("a", "b"):
        write_series(tmp_path / f"{name}.csv", series_values)
    base = Settings(data_dir=tmp_path / "d").series_config()
    too_early = Schedule("mad", {"window": 8}, "40", "50", train_end="2")
    with pytest.raises(BackfillError, match=r"^series 'a': --train-end leaves 2 rows to train"):
        run([tmp_path], tmp_path / "o.csv", base, too_early, engine=engine)


def needs_ray() -> None:
    """Skip without Ray (the ``ray`` extra), but fail under ``CI=true``, whose setup has it."""
    if importlib.util.find_spec("ray") is None:
        msg = "Ray is not installed: pip install 'anomalyd[ray]' to run this test"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value\n1\n2\n", "needs a header with a `timestamp` column"),
        ("", "needs a header with a `timestamp` column"),
        ("timestamp,value\n", "has a header but no data rows"),
        ("timestamp,value,value\n1,2,3\n", "['value'] appear more than once"),
        ("timestamp,value\n1,2\n2,3,4\n", "data row 2 does not have the header's 2 cells"),
        ("\ufefftimestamp,value\n1,2\n2,abc\n", "row 2, column 'value': 'abc' is not a number"),
        ("timestamp,value\n2,1\n1,2\n", "must be strictly increasing"),
        ("timestamp,value\n1,abc\n", "row 1, column 'value': 'abc' is not a number"),
        ("timestamp,value,host\n1,2.5,web-1\n", "row 1, column 'host': 'web-1' is not a number"),
        ("timestamp;value\n1;2\n", "looks ';'-separated; save it with ','"),
        ("timestamp,a,b\n1,2\n", "data row 1 does not have the header's 3 cells"),
        ("timestamp,value\n1,nan\n", "row 1 has a value that is not a finite number"),
        ("timestamp,value\nyesterday,1\n", "row 1: timestamp: 'yesterday' is neither"),
    ],
)
def test_bad_files_stop_with_a_message_and_no_output(
    tmp_path: Path, text: str, message: str
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(text)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["backfill", str(src), "--output", str(out)])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert list(tmp_path.iterdir()) == [src]  # neither the output nor a partial one


def test_bad_options_stop_with_a_message(series_values: np.ndarray, tmp_path: Path) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    base = Settings(data_dir=tmp_path / "d").series_config()
    for schedule, message in (
        (Schedule("nope"), "nope"),
        (Schedule("mad", {"window": 1}), "window"),
        (Schedule("mad", PARAMS, "7 days"), "`--fit-window`: A duration is a number and a"),
    ):
        with pytest.raises(BackfillError, match=message):
            run([src], tmp_path / "o.csv", base, schedule)
    with pytest.raises(BackfillError, match="neither a file nor a folder"):
        run([tmp_path / "missing.csv"], tmp_path / "o.csv", base, SCHEDULE)


def test_openmetrics_output_holds_the_table_scores(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", 'we"ird\\name'):
        write_series(folder / f"{name}.csv", series_values)
    base = Settings(data_dir=tmp_path / "d").series_config()
    run([folder], tmp_path / "t.csv", base, SCHEDULE)
    run([folder], tmp_path / "t.om", base, SCHEDULE)
    text = (tmp_path / "t.om").read_text()
    assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
    got = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.labels["detector"] == "mad"
            at = float(sample.timestamp.sec + sample.timestamp.nsec / 1e9)
            got[(family.name, sample.labels["series"], at)] = sample.value
    table = read_output(tmp_path / "t.csv")
    scored = [r for r in table if r["anomaly_score"] != ""]
    assert len(got) == 2 * len(scored) > 0  # unscored warm-up points have no sample
    for r in scored:
        for family, col in (("anomaly_score", "anomaly_score"), ("anomaly_raw_score", "raw_score")):
            key = (family, r["series"], float(r["timestamp"]))
            assert float(got[key]) == float(r[col])


def test_output_is_readable_as_a_plain_file_would_be(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    base = Settings(data_dir=tmp_path / "d").series_config()
    old = os.umask(0o022)
    try:
        run([src], tmp_path / "o.txt", base, SCHEDULE, fmt="OpenMetrics")  # any case
    finally:
        os.umask(old)
    assert (tmp_path / "o.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "o.txt").read_text().startswith("# TYPE anomaly_score gauge")


@pytest.mark.parametrize(
    ("out", "fmt", "message"),
    [
        ("o.json", None, "cannot tell the format from the file name"),
        ("o.csv", "xml", "openmetrics, remote-write or anomalyd. Got 'xml' instead."),
        ("o.csv", "remote-write", "remote-write and anomalyd send to an http(s) URL"),
        ("o.csv", "anomalyd", "remote-write and anomalyd send to an http(s) URL"),
        ("http://prom:9090/api/v1/write", "csv", "remote-write and anomalyd send to an http(s)"),
    ],
)
def test_unknown_output_formats_are_refused(
    series_values: np.ndarray, tmp_path: Path, out: str, fmt: str | None, message: str
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    base = Settings(data_dir=tmp_path / "d").series_config()
    target = out if out.startswith("http") else tmp_path / out
    with pytest.raises(BackfillError, match=re.escape(message)):
        run([src], target, base, SCHEDULE, fmt=fmt)
    assert list(tmp_path.iterdir()) == [src]


def test_the_command_writes_the_table(series_values: np.ndarray, tmp_path: Path) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    out = tmp_path / "out.csv"
    args = ["backfill", str(src), "--output", str(out), "--detector", "mad", "--param",
            "window=8", "--fit-window", "40", "--fit-every", "1d"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_output(out)
    scored = sum(r["anomaly_score"] != "" for r in rows)
    assert f"180 points ({scored} scored) written to {out}" in " ".join(result.output.split())
    assert list(rows[0]) == ["series", "timestamp", "value", "raw_score", "anomaly_score",
                             "anomalous"]  # fmt: skip
    assert rows[0]["anomaly_score"] == "" and rows[-1]["anomaly_score"] != ""


def test_a_series_shorter_than_its_first_span_is_named(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    short = write_series(tmp_path / "short.csv", series_values[:30])
    out = tmp_path / "out.csv"
    args = ["backfill", str(short), "--output", str(out), "--detector", "mad", "--param",
            "window=8", "--fit-window", "40"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "got no score: it is shorter than its first training span" in result.output
    assert all(r["anomaly_score"] == "" for r in read_output(out))
    late = CliRunner().invoke(app, [*args, "--train-end", "999"])
    assert "got no score: it ends before its --train-end (give an earlier" in late.output


def test_sources_that_would_lose_or_mix_data_are_refused(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    base = Settings(data_dir=tmp_path / "d").series_config()
    for sub in "ab":
        (tmp_path / sub).mkdir()
        write_series(tmp_path / sub / "cpu.csv", series_values)
    src = tmp_path / "a" / "cpu.csv"
    with pytest.raises(BackfillError, match="both a source and the output"):
        run([src], src, base, SCHEDULE)
    with pytest.raises(BackfillError, match="both hold series 'cpu'"):
        run([tmp_path / "a", tmp_path / "b"], tmp_path / "o.csv", base, SCHEDULE)
    with pytest.raises(BackfillError, match="needs a file name in an existing folder"):
        run([src], tmp_path / "missing" / "o.csv", base, SCHEDULE)
    out = tmp_path / "a" / "out.csv"
    for _ in range(2):  # the output in a source folder is not read back as a series
        assert run([tmp_path / "a", src], out, base, SCHEDULE).points == len(series_values)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["cpu.csv", "out.csv"]
    data = (tmp_path / "b" / "cpu.csv").read_bytes()
    with pytest.raises(BackfillError, match="both a source and the output"):
        run([tmp_path / "b"], tmp_path / "b" / "cpu.csv", base, SCHEDULE)  # data, not an output
    assert (tmp_path / "b" / "cpu.csv").read_bytes() == data


def test_a_long_table_scores_each_series_as_its_own_file_would(
    series_values: np.ndarray, tmp_path: Path
) -> None:
    """Rows of two series interleaved in one table (series, timestamp, value) give each series
    the rows a file of its own gives it."""
    a, b = series_values, series_values[::-1] * 3 + 1
    long = tmp_path / "long.csv"
    with long.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series", "timestamp", "value"])
        for i in range(len(a)):
            w.writerows([["web", 1.7e9 + STEP * i, a[i]], ["db", 1.7e9 + STEP * i, b[i]]])
    base = Settings(data_dir=tmp_path / "d").series_config()
    summary = run([long], tmp_path / "long-out.csv", base, SCHEDULE)
    assert summary.points == 2 * len(a)
    from_table = read_output(tmp_path / "long-out.csv")
    for name, x in (("web", a), ("db", b)):
        run(
            [write_series(tmp_path / f"{name}.csv", x)],
            tmp_path / f"{name}-out.csv",
            base,
            SCHEDULE,
        )
        alone = read_output(tmp_path / f"{name}-out.csv")
        mine = [r for r in from_table if r["series"] == name]
        assert mine == alone and len(mine) == len(x)
    assert [r["series"] for r in from_table[:1]] == ["web"]  # order of first appearance


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "series,timestamp,value\nweb,2,1\ndb,1,1\nweb,1,2\n",
            "series 'web': timestamps must be strictly increasing: row 3",
        ),
        ("series,timestamp,value\nweb,1,1\nweb,1,2\n", "row 2 (1) is not after row 1 (1)"),
        ("series,timestamp,value\nweb,1,x\n", "row 1, column 'value': 'x' is not a number"),
        ("series,timestamp,value\nweb,1,1\nweb,2,-2e301\n", "row 2: -2e+301 is beyond the 1e+300"),
    ],
)
def test_a_bad_long_table_names_the_series_and_row(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "long.csv").write_text(text)
    base = Settings(data_dir=tmp_path / "d").series_config()
    with pytest.raises(BackfillError, match=re.escape(message)):
        run([tmp_path / "long.csv"], tmp_path / "out.csv", base, SCHEDULE)
    assert not (tmp_path / "out.csv").exists()


def test_a_series_in_two_sources_is_refused(series_values: np.ndarray, tmp_path: Path) -> None:
    write_series(tmp_path / "web.csv", series_values)
    (tmp_path / "long.csv").write_text("series,timestamp,value\nweb,1,1\n")
    base = Settings(data_dir=tmp_path / "d").series_config()
    with pytest.raises(BackfillError, match="both hold series 'web'"):
        run([tmp_path / "web.csv", tmp_path / "long.csv"], tmp_path / "out.csv", base, SCHEDULE)


def test_parquet_sources_give_the_rows_csv_gives(series_values: np.ndarray, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x = series_values
    ts = 1.7e9 + STEP * np.arange(len(x))
    base = Settings(data_dir=tmp_path / "d").series_config()
    run([write_series(tmp_path / "web.csv", x)], tmp_path / "csv-out.csv", base, SCHEDULE)
    zoned = pa.array((ts * 1e6).astype("int64"), pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"timestamp": zoned, "value": x}), tmp_path / "web.parquet")
    run([tmp_path / "web.parquet"], tmp_path / "pq-out.csv", base, SCHEDULE)
    assert read_output(tmp_path / "pq-out.csv") == read_output(tmp_path / "csv-out.csv")
    naive = pa.array((ts * 1e6).astype("int64"), pa.timestamp("us"))
    long = {"series": ["web"] * len(x), "timestamp": naive, "value": x}
    pq.write_table(pa.table(long), tmp_path / "long.parquet")
    with pytest.raises(BackfillError, match="no UTC offset.*--assume-utc"):
        run([tmp_path / "long.parquet"], tmp_path / "out.csv", base, SCHEDULE)
    run([tmp_path / "long.parquet"], tmp_path / "long-out.csv", base, SCHEDULE, assume_utc=True)
    assert read_output(tmp_path / "long-out.csv") == read_output(tmp_path / "csv-out.csv")


def test_a_file_that_is_not_parquet_says_so(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    (tmp_path / "bad.parquet").write_text("timestamp,value\n1,2\n")
    base = Settings(data_dir=tmp_path / "d").series_config()
    with pytest.raises(BackfillError, match="is not a readable Parquet file"):
        run([tmp_path / "bad.parquet"], tmp_path / "out.csv", base, SCHEDULE)


def test_train_end_as_rows_or_a_time_sets_the_first_model(tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(size=600)
    src = write_series(tmp_path / "s.csv", x)
    base = Settings(data_dir=tmp_path / "d").series_config()
    outs = []
    for end in ("300", str(1.7e9 + STEP * 300), "2023-11-15T23:13:20Z"):
        schedule = Schedule("mad", PARAMS, "1000", "0", train_end=end)
        run([src], tmp_path / "out.csv", base, schedule)
        outs.append(read_output(tmp_path / "out.csv"))
    scored = [i for i, r in enumerate(outs[0]) if r["raw_score"] != ""]
    assert scored[0] == 300 and scored == list(range(300, 600))
    assert outs[0] == outs[1] == outs[2]  # 1.7e9 + 300 steps is 2023-11-15T23:13:20Z


def test_a_bad_train_end_says_what_it_takes(tmp_path: Path) -> None:
    src = write_series(tmp_path / "s.csv", np.zeros(50))
    base = Settings(data_dir=tmp_path / "d").series_config()
    with pytest.raises(BackfillError, match="row count or a time"):
        run([src], tmp_path / "out.csv", base, Schedule("mad", PARAMS, train_end="soon"))
    none = "--train-end leaves 0 rows to train the first model on; mad with .* at least 16"
    with pytest.raises(BackfillError, match=none):
        run([src], tmp_path / "out.csv", base, Schedule("mad", PARAMS, train_end="0"))


def test_a_short_fit_window_is_named_by_its_option(tmp_path: Path) -> None:
    src = write_series(tmp_path / "s.csv", np.zeros(50))
    base = Settings(data_dir=tmp_path / "d").series_config()
    with pytest.raises(BackfillError, match="--fit-window must be at least 16 .* Got 4: raise"):
        run([src], tmp_path / "out.csv", base, Schedule("mad", PARAMS, fit_window="4"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "spark"], "--engine must be local or ray. Got 'spark' instead."),
        (["--address", "ray://h:10001"], "--address is the Ray cluster's: use it with --engine"),
    ],
)
def test_engine_options_are_checked(
    series_values: np.ndarray, tmp_path: Path, options: list[str], message: str
) -> None:
    src = write_series(tmp_path / "s.csv", series_values)
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(app, ["backfill", str(src), "-o", str(out), *options])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]
