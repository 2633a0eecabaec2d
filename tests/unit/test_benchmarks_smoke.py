"""Smoke tests: benchmarks run end to end with their smallest settings."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SUITE = Path(__file__).resolve().parents[3] / "shared" / "benchmark"


def load_benchmark(name: str = "detectors_speed") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(60)
def test_detectors_speed_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    out = tmp_path / "speed.json"
    argv = ["--quick", "--detectors", "mad,ae,themis", "--devices", "cpu", "--json", str(out)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "fit s/ser 1x1" in printed
    assert "themis: skipped" in printed  # no checkpoint given: skipped with a note
    doc = json.loads(out.read_text())
    rows = {(r["detector"], r["series"]) for r in doc["rows"]}
    assert rows == {(name, n) for name in ("mad", "ae") for n in (1, 3)}
    for row in doc["rows"]:
        assert row["same"], row  # batched and one-by-one scores agree
        assert row["fit_batch_s"] > 0 and row["score_batch_wps"] > 0 and row["stream_ratio"] > 0
    assert doc["environment"]["cuda_used"] is False


def test_series_are_seeded_and_prefix_stable() -> None:
    bench = load_benchmark()
    few, more = bench.make_series(2, 100), bench.make_series(5, 100)
    assert all((a == b).all() for a, b in zip(few, more[:2], strict=True))


def test_remote_write_decode_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("remote_write_decode")
    assert bench.main(["--series", "5", "--per-series", "3", "--repeats", "2"]) == 0
    printed = capsys.readouterr().out
    assert "same result: True" in printed and "ratio (parser / scanner)" in printed
    assert "ratio (1.0 parser / 2.0)" in printed


def test_stream_paths_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("stream_paths")
    argv = ["--windows", "4", "--trains", "200", "--repeats", "1", "--series", "4"]
    assert bench.main([*argv, "--batches", "2", "--pause", "0.01"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("x\n") >= 3 + 2 + 1  # 3 path rows, 2 thread rows, the fused row
    assert "two parts" in printed and "fused" in printed


@pytest.mark.timeout(180)  # 25-35 s on 2 idle cores (4 rounds of ensemble fits); 75 s at load 7
def test_alert_quality_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("alert_quality")
    out = tmp_path / "alerts.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "target stable: false alarms, median <= 1%" in printed
    doc = json.loads(out.read_text())
    assert doc["traffic"]["errors"] == []
    assert all(s["model_version"] >= 1 for s in doc["service"]["series"].values())  # fitted
    figures = []
    for rows in doc["rows"].values():
        figures += [rows["stable"]["false_alarm_rate"], rows["stable"]["critical_share"]]
        figures += [rows["events"]["far_false_alarm_rate"]]
        assert 0 <= rows["events"]["caught"] <= rows["events"]["events"]
        assert rows["events"]["events"] > 0
    summary = doc["summary"]
    figures += [summary["events_caught"]["share"], summary["stable_false_alarm"]["median"]]
    assert all(x is not None and 0 <= x <= 1 for x in figures), figures


@pytest.mark.timeout(300)
def test_alert_quality_replay_gives_the_service_figures(tmp_path: Path) -> None:
    bench = load_benchmark("alert_quality")
    argv = ["--kinds", "requests", "--variants", "events", "--days", str(bench.quick_days())]
    docs = []
    for extra in ([], ["--replay", "1"]):
        out = tmp_path / f"alerts{len(extra)}.json"
        assert bench.main([*argv, *extra, "--json", str(out)]) == 0
        docs.append(json.loads(out.read_text()))
    service, replayed = docs
    assert replayed["rows"] == service["rows"]
    assert service["rows"]["requests"]["events"]["events"] > 0


@pytest.mark.timeout(120)
def test_point_gate_on_two_series(capsys: pytest.CaptureFixture[str]) -> None:
    if not (SUITE / "manifest.json").exists():
        pytest.skip(f"needs the development benchmark at {SUITE}")
    bench = load_benchmark("point_gate")
    assert bench.main(["--jobs", "1", "--match", "Twitter_volume_A"]) == 0
    printed = capsys.readouterr().out
    assert "2 series (0 could not be fitted)" in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith(("no point", "gate"))]
    assert len(rows) == 1 + len(bench.GATES)
    assert "alerts first" in printed and "ranking first" in printed


@pytest.mark.timeout(120)
def test_alert_line_on_one_series(capsys: pytest.CaptureFixture[str]) -> None:
    if not (SUITE / "manifest.json").exists():
        pytest.skip(f"needs the development benchmark at {SUITE}")
    bench = load_benchmark("alert_line")
    argv = ["--detector", "mad", "--jobs", "1", "--match", "i-a2eb1cd9_NetworkIn"]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "1 series (0 could not be fitted)" in printed
    assert "crossfit@0.995" in printed and "precision per severity band" in printed


@pytest.mark.timeout(180)
def test_dashboard_open_quick(tmp_path: Path) -> None:
    from tests.integration._server import system_binary

    system_binary(("chromium", "chromium-browser"), "`chromium`")
    bench = load_benchmark("dashboard_open")
    out = tmp_path / "open.json"
    assert bench.main(["--points", "30000", "--repeats", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["points"] == 30000 and figures["median_dashboard_s"] > 0
    assert figures["raw_over_dashboard"] > 0


@pytest.mark.timeout(180)
def test_backfill_speed_quick(capsys: pytest.CaptureFixture[str]) -> None:
    if not (SUITE / "manifest.json").exists():
        pytest.skip(f"needs the development benchmark at {SUITE}")
    bench = load_benchmark("backfill_speed")
    argv = ["--max-points", "300", "--default-series", "1", "--mad-series", "2", "--no-ray"]
    assert bench.main(argv) == 0  # non-zero when an engine's output differs
    printed = capsys.readouterr().out
    assert "local, 2 processes" in printed and "vs 1 process" in printed


def test_selection_cv_cache_is_keyed_by_series_and_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_benchmark("selection_cv")
    from anomalyd.service.suite import LabelledSeries

    rng = np.random.default_rng(0)
    values, labels = rng.normal(size=(400, 1)), np.zeros(400, dtype=np.int64)
    series = LabelledSeries("s", "X", values, labels, 300)
    computed = []
    compute = bench._member_arrays
    monkeypatch.setattr(bench, "_member_arrays", lambda *a: computed.append(a) or compute(*a))

    def scores(s: LabelledSeries) -> np.ndarray:
        return np.asarray(bench.cached_arrays(s, ["mad:16"], tmp_path)["mad:16"]["test"])

    first = scores(series)
    np.testing.assert_array_equal(scores(series), first)
    assert len(computed) == 1  # the same key reads the file back
    changed = LabelledSeries("s", "X", values * 2 + rng.normal(size=(400, 1)), labels, 300)
    assert not np.allclose(scores(changed)[-50:], first[-50:]) and len(computed) == 2
    scores(LabelledSeries("s", "X", changed.values, labels, 250))  # another training span
    monkeypatch.setattr(bench, "_code_digest", lambda: "other code")
    scores(LabelledSeries("s", "X", changed.values, labels, 250))
    assert len(computed) == 4


def test_selection_cv_rejoins_the_ensemble_as_it_scores() -> None:
    """The re-join equals the ensemble's own score, also when the training span opens with
    extreme points that only the point member (shorter context) scores."""
    bench = load_benchmark("selection_cv")
    from anomalyd.service.evaluation_scoring import score_once
    from anomalyd.service.suite import LabelledSeries

    values = np.random.default_rng(1).normal(size=(700, 1))
    values[[36, 42, 48, 54, 60], 0] += 12.0  # before the 64-point window member has context
    series = LabelledSeries("s", "X", values, np.zeros(700, dtype=np.int64), 450)
    specs = ("mad:64", bench.DEFAULT_POINT)
    arrays = {spec: bench._member_arrays(spec, series) for spec in specs}
    rejoined = bench.joined(arrays, (frozenset({"mad:64"}), bench.DEFAULT_POINT, "mean"))
    direct = score_once(series, "ensemble", {"members": "mad:64"}, bench.ALERT_QUANTILE).rank
    np.testing.assert_allclose(rejoined, direct[450:], rtol=1e-9, equal_nan=True)


def test_selection_cv_procedure_keeps_its_start_members() -> None:
    bench = load_benchmark("selection_cv")
    worth = {"a": -1.0, "b": 2.0, "c": 1.0, "d": 0.5}

    class Table:  # a member set's mean VUS-PR: the sum of its members' worth
        def mean(self, names: list[str], config: tuple) -> float:
            return sum(worth[m] for m in config[0])

    def choose(start: frozenset[str]) -> frozenset[str]:
        return bench.procedure(Table(), "", 3, ("mean",), tuple(worth), start)(["s"])[0]

    assert choose(frozenset()) == {"b", "c", "d"}
    assert choose(frozenset({"a"})) == {"a", "b", "c"}  # kept although it lowers the mean


@pytest.mark.parametrize("window", [2, 3, 8, 9, 100])
def test_peer_scores_placed_causally_land_on_each_window_end(window: int) -> None:
    """TSB-AD puts a window's score on its centre (IForest, Sub-LOF, Sub-PCA: ceil((w-1)/2)
    copies in front; MatrixProfile: from w//2) or gives each point the mean over the windows
    holding it (KMeansAD, KShapeAD); moved by the look-ahead kept with it, the score of the
    window starting at i first shows on i + w - 1, its last point."""
    tsb, bench = load_benchmark("tsbad_scores"), load_benchmark("selection_cv")
    per_window = np.arange(1.0, 31.0)  # scores of windows starting at 0..29
    front = {"Sub_PCA": -(-(window - 1) // 2), "MatrixProfile": window // 2}
    for detector, pad in front.items():
        placed = np.concatenate([np.full(pad, per_window[0]), per_window, np.zeros(window)])
        moved = bench.causal_placement(placed, tsb.lookahead(detector, window))
        np.testing.assert_array_equal(moved[window - 1 : window - 1 + 30], per_window)
    one_hot = np.zeros(12 + 2 * window)
    one_hot[12] = 1.0  # only the window starting at 12 scores
    holders = np.convolve(one_hot, np.ones(window))[: len(one_hot)]  # a sum: where > 0 is all
    moved = bench.causal_placement(holders, tsb.lookahead("KMeansAD_U", window))
    assert np.flatnonzero(moved)[0] == 12 + window - 1


def test_peer_lookahead_is_known_for_the_peers_only() -> None:
    tsb = load_benchmark("tsbad_scores")
    assert all(tsb.lookahead(d, 8) in (3, 7) for d in tsb.DETECTORS)
    with pytest.raises(ValueError, match="'LOF'"):
        tsb.lookahead("LOF", 8)


def test_selection_cv_measures_peers_as_placed_and_causally(tmp_path: Path) -> None:
    bench = load_benchmark("selection_cv")
    labels = np.zeros(40, dtype=np.int64)
    labels[20:25] = 1  # the measured rows of a 100-point series with train_end 60
    tables = {n: {"labels": labels, "window": 8} for n in ("s1", "s2")}
    score = np.zeros(100)
    score[78:87] = 1.0  # centred on the event at rows 80-84
    for name, detector in (("s1", "A"), ("s1", "B"), ("s2", "A")):  # s2 lacks B
        np.savez(tmp_path / f"{name}__{detector}.npz", score=score, lookahead=6)
    found = bench.placed_peers(tmp_path, tables, ["s1", "s2"])
    assert set(found[bench.PLACED]["A"]) == {"s1"}  # only series every peer scored
    assert found[bench.PLACED]["A"]["s1"] == pytest.approx(
        bench.metrics.vus_pr(labels, score[60:], window=8)
    )
    moved = bench.metrics.vus_pr(labels, bench.causal_placement(score, 6)[60:], window=8)
    assert found[bench.CAUSAL]["B"]["s1"] == pytest.approx(moved)
    assert moved < found[bench.PLACED]["B"]["s1"]
    with pytest.raises(ValueError, match="No series has a score of every peer"):
        bench.placed_peers(tmp_path / "empty", tables, ["s1"])


@pytest.mark.parametrize(
    ("given", "said"), [(" , ", "--candidates names no member"), ("nosuch:8", "--candidates:")]
)
def test_selection_cv_refuses_candidates_it_cannot_choose_among(
    given: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = load_benchmark("selection_cv")
    argv = ["selection_cv.py", "--suite", str(tmp_path), "--candidates", given]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        bench.main()
    assert exited.value.code == 2 and said in capsys.readouterr().err


def test_selection_cv_scores_the_default_whatever_the_candidates() -> None:
    bench = load_benchmark("selection_cv")
    specs = bench.table_specs(["lof:16:max_train_windows=3000"])
    assert specs[0] == "lof:16:max_train_windows=3000"
    assert {*bench.DEFAULT[0], bench.DEFAULT_POINT} <= set(specs)
