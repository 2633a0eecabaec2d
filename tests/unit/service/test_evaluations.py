"""Stored evaluation runs, `evaluate --store` and `/v1/evaluations`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from anomalyd.service.cli import app as cli_app
from anomalyd.service.evaluations import (
    METRICS,
    EvaluationNotFoundError,
    EvaluationStore,
    leaderboard,
)

SOURCES = {"a1": "A", "a2": "A", "b1": "B"}


def run(detector: str, vus: dict[str, float], **extra: Any) -> dict[str, Any]:
    series = {s: {"vus_pr": v, "pate": v / 2, "fit_seconds": 0.1, **extra} for s, v in vus.items()}
    return {"detector": detector, "params": {}, "series": series, "summary": {}}


def doc(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"runs": list(runs)}


def test_leaderboard_means_overall_and_per_source(tmp_path: Path) -> None:
    store = EvaluationStore(tmp_path)
    ours = run("mad", {"a1": 0.2, "a2": 0.4, "b1": 0.9})
    ours["series"]["a2"]["false_alarm_rate"] = float("nan")  # no normal points: not averaged
    failed = run("lof", {"a1": 0.5})
    failed["series"]["b1"] = {"error": "too short"}  # a series it could not score
    reference = {"IForest": {"a1": 0.3, "b1": 0.5, "elsewhere": 1.0}, "None": {"zz": 1.0}}
    run_id = store.save(doc(ours, failed), suite="s", sources=SOURCES, reference=reference)
    sources, rows = leaderboard(store.read(run_id))
    assert sources == ["A", "B"]
    mad, lof, iforest = rows
    assert mad.n == 3 and mad.cells["vus_pr"] == pytest.approx({"all": 0.5, "A": 0.3, "B": 0.9})
    assert mad.cells["pate"]["all"] == pytest.approx(0.25)
    assert mad.cells["false_alarm_rate"]["all"] is None
    assert lof.n == 1 and lof.cells["vus_pr"] == {"all": 0.5, "A": 0.5, "B": None}
    assert set(lof.series) == {"a1"}
    assert iforest.detector == "IForest (TSB-AD)" and iforest.reference
    assert iforest.cells["vus_pr"] == pytest.approx({"all": 0.4, "A": 0.3, "B": 0.5})
    assert len(rows) == 3  # a reference detector with none of these series is left out


def test_runs_are_listed_newest_first_and_stray_files_are_skipped(tmp_path: Path) -> None:
    store = EvaluationStore(tmp_path)
    first = store.save(doc(run("mad", {"a1": 0.1})), suite="s", sources=SOURCES, reference={})
    second = store.save(doc(run("mad", {"a1": 0.1})), suite="s", sources=SOURCES, reference={})
    assert first != second  # same second, same detectors: still two runs
    (store.folder / "notes.json").write_text('{"not": "a run"}')
    (store.folder / "broken.json").write_text("{")
    listed = store.runs()
    assert [r["id"] for r in listed] == [second, first]
    assert listed[0]["detectors"] == ["mad"] and listed[0]["series"] == 3
    assert listed[0]["schedule"] == {"kind": "prefix"}  # no schedule: stored before them


@pytest.mark.parametrize("run_id", ["nope", "../etc/passwd", "notes", ".tmp-x", ""])
def test_unknown_or_malformed_ids_are_not_found(tmp_path: Path, run_id: str) -> None:
    store = EvaluationStore(tmp_path)
    store.folder.mkdir()
    (store.folder / "notes.json").write_text('{"not": "a run"}')
    with pytest.raises(EvaluationNotFoundError, match="GET /v1/evaluations"):
        store.read(run_id)


def test_the_api_serves_the_leaderboard(client: TestClient, data_dir: Path) -> None:
    assert client.get("/v1/evaluations").json() == {"evaluations": []}
    run_id = EvaluationStore(data_dir).save(
        doc(run("mad", {"a1": 0.2, "b1": 0.4})), suite="s", sources=SOURCES, reference={}
    )
    assert client.get("/v1/evaluations").json()["evaluations"][0]["id"] == run_id
    board = client.get(f"/v1/evaluations/{run_id}").json()
    assert board["metrics"] == list(METRICS) and board["sources"] == ["A", "B"]
    assert board["schedule"] == {"kind": "prefix", "train_points": None, "refit_every": None}
    assert board["rows"][0]["cells"]["vus_pr"]["all"] == pytest.approx(0.3)
    missing = client.get("/v1/evaluations/nope")
    assert missing.status_code == 404 and "GET /v1/evaluations" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("schedule", "served"),
    [
        ({"kind": "service", "train_points": 200, "refit_every": 50}, (200, 50)),
        ({"kind": "service", "train_points": "200"}, (None, None)),  # hand-edited: not a size
        ("service", None),  # not an object: read as one model on the prefix
    ],
)
def test_the_api_says_how_a_run_was_scored(
    client: TestClient, data_dir: Path, schedule: Any, served: tuple[Any, Any] | None
) -> None:
    stored = doc(run("mad", {"a1": 0.2})) | {"schedule": schedule}
    run_id = EvaluationStore(data_dir).save(stored, suite="s", sources=SOURCES, reference={})
    expected = {"kind": "prefix", "train_points": None, "refit_every": None}
    if served is not None:
        expected = {"kind": "service", "train_points": served[0], "refit_every": served[1]}
    assert client.get(f"/v1/evaluations/{run_id}").json()["schedule"] == expected
    listed = client.get("/v1/evaluations").json()["evaluations"][0]["schedule"]
    assert listed == expected


def stored_run(tmp_path: Path, *detectors: str) -> tuple[Path, dict[str, Any]]:
    """``anomalyd evaluate --store`` of one labelled CSV series, and one too short for
    ``residual`` (``mad`` scores it); (data dir, results.json)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    short = np.random.default_rng(1).normal(size=120)
    short[100] += 9
    rows = "".join(f"{v},{int(i == 100)}\n" for i, v in enumerate(short))
    (suite / "short.csv").write_text("value,label\n" + rows)
    values = np.random.default_rng(0).normal(size=400)
    values[[300, 350]] += 10
    labels = ((np.abs(np.arange(400) - 300) <= 2) | (np.abs(np.arange(400) - 350) <= 1)).astype(int)
    rows = "".join(f"{v},{lab}\n" for v, lab in zip(values, labels, strict=True))
    (suite / "one.csv").write_text("value,label\n" + rows)
    argv = ["evaluate", "--suite", str(suite), "--train-fraction", "0.5"]
    argv += [f"--detector={d}" for d in detectors] + ["--param", "mad.window=16"]
    argv += ["--output", str(tmp_path / "r.json"), "--store", str(tmp_path / "data")]
    result = CliRunner().invoke(cli_app, argv)
    assert result.exit_code == 0, result.output
    return tmp_path / "data", json.loads((tmp_path / "r.json").read_text())


def test_evaluate_store_keeps_the_run(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    stored_run(tmp_path, "mad")
    (stored,) = EvaluationStore(tmp_path / "data").runs()
    assert stored["suite"] == str(suite)
    kept = EvaluationStore(tmp_path / "data").read(stored["id"])
    assert kept["runs"] == json.loads((tmp_path / "r.json").read_text())["runs"]
    assert kept["sources"] == {"one": "suite", "short": "suite"}


def test_evaluate_store_on_a_file_fails_before_evaluating(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    argv = ["evaluate", "--suite", str(tmp_path), "--store", str(tmp_path / "file")]
    result = CliRunner().invoke(cli_app, argv)
    assert result.exit_code == 2 and "is not a folder" in result.output


@pytest.fixture
def evaluated(tmp_path: Path, make_client: Any) -> Any:
    data_dir, results = stored_run(tmp_path, "mad", "residual")
    with make_client(data_dir=data_dir) as client:
        run_id = client.get("/v1/evaluations").json()["evaluations"][0]["id"]
        yield client, f"/v1/evaluations/{run_id}/series/one", results


def test_an_evaluated_series_has_its_values_labels_and_scores(evaluated: Any) -> None:
    client, path, results = evaluated
    body = client.get(path, params=[("detector", "mad"), ("detector", "residual")]).json()
    assert body["total"] == 400 and body["x"] == list(range(400))  # 400 rows: nothing thinned
    assert body["label_spans"] == [[298, 302], [349, 351]] and body["train_end"] == 200
    for detector in ("mad", "residual"):
        score = body["scores"][detector]
        assert all(s is None for s in score[:200]) and all(s is not None for s in score[210:])
        alerts = [[a["start"], a["end"]] for a in body["alerts"][detector]]
        assert any(a[0] <= 300 <= a[1] for a in alerts)  # the spike alerts
        assert (
            body["figures"][detector]
            == results["runs"][("mad", "residual").index(detector)]["series"]["one"]
        )
    part = client.get(
        path, params={"detector": "mad", "start": 290, "end": 310, "points": 10}
    ).json()
    assert part["total"] == 21 and part["x"][0] == 290 and part["x"][-1] == 310
    assert part["label_spans"] == [[298, 302]]


def test_the_curves_are_the_numbers_in_the_leaderboard(evaluated: Any) -> None:
    client, path, results = evaluated
    body = client.get(f"{path}/curves", params=[("detector", "mad"), ("detector", "residual")])
    assert body.status_code == 200, body.text
    for i, detector in enumerate(("mad", "residual")):
        figures = results["runs"][i]["series"]["one"]
        drawn = body.json()["curves"][detector]
        assert drawn["vus_pr"] == pytest.approx(figures["vus_pr"], abs=1e-9)
        assert drawn["auc_pr"] == pytest.approx(figures["auc_pr"], abs=1e-9)
        assert len(drawn["buffer_ap"]) == drawn["window"] + 1 == figures["window"] + 1
        assert drawn["buffers"][0] == 0 and drawn["buffers"][-1] == drawn["window"]
        assert all(np.diff(r).min() >= 0 for r in drawn["vus_recall"])  # ordered by recall


@pytest.mark.parametrize(
    ("suffix", "params", "status", "needle"),
    [
        ("", {"detector": "lof"}, 404, "it has mad, residual"),
        ("/curves", {"detector": "lof"}, 404, "it has mad, residual"),
        ("", {}, 422, "detector"),
        ("", {"detector": "mad", "start": 50, "end": 10}, 422, "end must not be before start"),
        ("", {"detector": "mad", "start": -1}, 422, "start"),
        ("", {"detector": "mad", "start": 2**63}, 422, "start"),
    ],
)
def test_bad_evaluated_series_queries_say_what_to_fix(
    evaluated: Any, suffix: str, params: dict[str, Any], status: int, needle: str
) -> None:
    client, path, _ = evaluated
    r = client.get(path + suffix, params=params)
    assert r.status_code == status and needle in r.json()["detail"]


def test_an_unknown_series_or_a_run_without_scores_is_404(evaluated: Any, data_dir: Path) -> None:
    client, path, _ = evaluated
    r = client.get(path.replace("/one", "/two"), params={"detector": "mad"})
    assert r.status_code == 404 and "no series 'two'" in r.json()["detail"]
    run_id = path.split("/")[3]
    (data_dir / "evaluations" / f"{run_id}.safetensors").unlink()
    r = client.get(path, params={"detector": "mad"})
    assert r.status_code == 404 and "evaluate again with --store" in r.json()["detail"]


def test_a_detector_that_could_not_score_the_series_gives_its_reason(evaluated: Any) -> None:
    client, path, results = evaluated
    path = path.replace("/one", "/short")
    both = [("detector", "mad"), ("detector", "residual")]
    body = client.get(path, params=both).json()
    assert set(body["scores"]) == {"mad"} and set(body["errors"]) == {"residual"}
    assert body["errors"]["residual"] == results["runs"][1]["series"]["short"]["error"]
    curves = client.get(f"{path}/curves", params=both).json()
    assert set(curves["curves"]) == {"mad"} and "residual" in curves["errors"]
    board = client.get(path.split("/series/")[0]).json()
    assert "short" in board["rows"][1]["errors"] and "short" not in board["rows"][1]["series"]


def test_drawn_curves_enclose_the_figures(evaluated: Any) -> None:
    client, path, _ = evaluated
    for detector in ("mad", "residual"):
        drawn = client.get(f"{path}/curves", params={"detector": detector}).json()["curves"]
        c = drawn[detector]
        assert np.trapezoid(c["precision"], c["recall"]) == pytest.approx(c["auc_pr"], abs=1e-9)
        for k, w in enumerate(c["buffers"]):
            area = np.trapezoid(c["vus_precision"][k], c["vus_recall"][k])
            assert area == pytest.approx(c["buffer_ap"][w], abs=1e-9)


def test_rows_beyond_the_end_are_empty(evaluated: Any) -> None:
    client, path, _ = evaluated
    body = client.get(path, params={"detector": "mad", "start": 5000, "end": 6000}).json()
    assert body["total"] == 0 and body["x"] == [] and body["label_spans"] == []


@pytest.mark.parametrize(
    "edit",
    [
        {"created_at": "yesterday"},
        {"runs": [{"detector": "mad"}]},  # no per-series figures
        {"sources": None},
    ],
)
def test_a_malformed_run_file_is_skipped_not_fatal(tmp_path: Path, edit: dict[str, Any]) -> None:
    store = EvaluationStore(tmp_path)
    good = store.save(doc(run("mad", {"a1": 0.1})), suite="s", sources=SOURCES, reference={})
    stored = json.loads((store.folder / f"{good}.json").read_text())
    (store.folder / "edited.json").write_text(json.dumps({**stored, "id": "edited", **edit}))
    assert [r["id"] for r in store.runs()] == [good]
    with pytest.raises(EvaluationNotFoundError):
        store.read("edited")


def test_an_id_is_reserved_so_a_run_stored_meanwhile_gets_another(tmp_path: Path) -> None:
    from anomalyd.service.evaluations import _unique

    (tmp_path / "evaluations").mkdir()
    first = _unique(tmp_path / "evaluations", "20260101T000000Z-mad")
    second = _unique(tmp_path / "evaluations", "20260101T000000Z-mad")
    assert first != second and (tmp_path / "evaluations" / f"{first}.json").exists()
    assert EvaluationStore(tmp_path).runs() == []  # a reservation is not a run


def test_stored_files_get_the_umask_mode(tmp_path: Path) -> None:
    store = EvaluationStore(tmp_path)
    arrays = {"values/a1": np.zeros((3, 1), dtype=np.float32)}
    run_id = store.save(doc(run("mad", {"a1": 0.1})), suite="s", sources=SOURCES, reference={},
                        arrays=arrays)  # fmt: skip
    umask = os.umask(0)
    os.umask(umask)
    for suffix in (".json", ".safetensors"):
        mode = (store.folder / f"{run_id}{suffix}").stat().st_mode & 0o777
        assert mode == 0o666 & ~umask, suffix


def test_an_unreadable_scores_file_is_named_as_such(evaluated: Any, data_dir: Path) -> None:
    client, path, _ = evaluated
    run_id = path.split("/")[3]
    (data_dir / "evaluations" / f"{run_id}.safetensors").write_bytes(b"garbage")
    r = client.get(path, params={"detector": "mad"})
    assert r.status_code == 404 and "cannot be read" in r.json()["detail"]


def test_n_counts_the_series_a_mean_is_over(tmp_path: Path) -> None:
    store = EvaluationStore(tmp_path)
    ours = run("mad", {"a1": 0.2, "a2": float("nan"), "b1": 0.4})
    run_id = store.save(doc(ours), suite="s", sources=SOURCES, reference={})
    [row] = leaderboard(store.read(run_id))[1]
    assert row.n == 2 and row.cells["vus_pr"]["all"] == pytest.approx(0.3)


def test_a_series_name_with_a_slash_opens(client: TestClient, data_dir: Path) -> None:
    from anomalyd.service.evaluations import series_arrays
    from anomalyd.service.suite import LabelledSeries

    labels = np.zeros(50, dtype=np.int64)
    labels[40:42] = 1
    named = LabelledSeries("group/a", "src", np.arange(50.0).reshape(50, 1), labels, 20)
    scores = [{"group/a": {"raw": np.arange(50.0), "anomaly_score": np.full(50, 0.5)}}]
    figures = {"group/a": {"vus_pr": 0.5, "window": 4}}
    run_id = EvaluationStore(data_dir).save(
        {"runs": [{"detector": "mad", "params": {}, "series": figures}]},
        suite="s", sources={"group/a": "src"}, reference={},
        train_end={"group/a": 20}, arrays=series_arrays([named], scores),
    )  # fmt: skip
    base = f"/v1/evaluations/{run_id}/series/group%2Fa"
    chart = client.get(base, params={"detector": "mad"})
    assert chart.status_code == 200 and chart.json()["label_spans"] == [[40, 41]]
    curves = client.get(f"{base}/curves", params={"detector": "mad"})
    assert curves.status_code == 200 and "mad" in curves.json()["curves"]
