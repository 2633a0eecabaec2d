"""``anomalyd backfill --format anomalyd --output URL``: history written into the real service,
which scores it itself: the same scores as the file backfill of the same series."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from anomalyd.service.cli import app as cli_app
from tests.integration._server import Server

COMMON = ["--detector", "mad", "--param", "window=8", "--fit-window", "200", "--fit-every", "300"]


def test_history_sent_into_the_service_scores_as_the_file_backfill(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name, shift in (("web-1", 0.0), ("db.main", 30.0)):
        values = rng.normal(10 + shift, 1, 1200)
        values[900] += 15
        rows = "".join(f"{1_700_000_000 + 60 * i},{v}\n" for i, v in enumerate(values))
        (folder / f"{name}.csv").write_text("timestamp,value\n" + rows)
    out = tmp_path / "scores.csv"
    written = CliRunner().invoke(cli_app, ["backfill", str(folder), "-o", str(out), *COMMON])
    assert written.exit_code == 0, written.output
    want = list(csv.DictReader(out.open()))
    server = Server(tmp_path / "data").start()
    try:
        args = ["backfill", str(folder), "-o", server.url, "--format", "anomalyd", *COMMON]
        for _ in range(2):  # sending the same history again changes nothing
            sent = CliRunner().invoke(cli_app, args)
            assert sent.exit_code == 0 and f"sent to {server.url}" in sent.output, sent.output
        got = {name: _scores(server.url, name) for name in ("web-1", "db.main")}
    finally:
        server.stop()
    for row in want:
        point = got[row["series"]][float(row["timestamp"])]
        for column in ("anomaly_score", "raw_score"):
            assert point[column] == (float(row[column]) if row[column] else None), row
    assert sum(len(v) for v in got.values()) == len(want)


def test_a_series_scored_under_other_settings_is_refused_and_kept(tmp_path: Path) -> None:
    src = tmp_path / "web-1.csv"
    src.write_text("timestamp,value\n" + "".join(f"{i * 60},{i % 7}\n" for i in range(400)))
    server = Server(tmp_path / "data").start()
    try:
        args = ["backfill", str(src), "-o", server.url, "--format", "anomalyd", *COMMON]
        assert CliRunner().invoke(cli_app, args).exit_code == 0
        before = _scores(server.url, "web-1")
        defaults_named = CliRunner().invoke(cli_app, [*args, "--param", "min_scale=0.05"])
        assert defaults_named.exit_code == 0, defaults_named.output  # the same settings
        other = CliRunner().invoke(cli_app, [*args, "--param", "window=16"])
        series = httpx.get(f"{server.url}/v1/series/web-1").json()
        assert _scores(server.url, "web-1") == before
    finally:
        server.stop()
    said = " ".join(other.output.split())
    assert other.exit_code == 2 and "'web-1' already holds 400 points" in said, said
    assert (
        "params {'window': 8, 'min_scale': 0.05} there, {'window': 16, 'min_scale': 0.05} here"
        in said
    )
    assert "the quantile is ANOMALYD_DEFAULT_QUANTILE's" in said
    assert series["params"] == {"window": 8}  # the same settings: no PUT


def _scores(url: str, name: str) -> dict[float, dict[str, object]]:
    answer = httpx.get(f"{url}/v1/series/{name}/scores", params={"limit": 5000}).json()
    return {p["timestamp"]: p for p in answer["points"]}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cpu load", "['cpu load'] cannot be series ids"),
        ("rw-0123456789abcdef0123", "have the form of remote-write series ids"),
    ],
)
def test_names_the_service_cannot_take_are_refused_before_anything_is_sent(
    tmp_path: Path, name: str, message: str
) -> None:
    src = tmp_path / f"{name}.csv"
    src.write_text("timestamp,value\n" + "".join(f"{i * 60},{i % 7}\n" for i in range(50)))
    args = ["backfill", str(src), "-o", "http://127.0.0.1:9", "--format", "anomalyd"]
    result = CliRunner().invoke(cli_app, args)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and message in said, said
    refused = CliRunner().invoke(cli_app, [*args, "--train-end", "9"])
    assert refused.exit_code == 2 and "--train-end cannot be used" in refused.output
