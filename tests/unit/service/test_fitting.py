"""Fits run beside ingestion; failures mark the series instead of breaking the service."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from anomalyd.detectors import registry
from anomalyd.service import fitting
from anomalyd.service.scheduler import Scheduler
from anomalyd.service.settings import Settings
from tests.unit.service.conftest import TRAIN, ClientFactory, as_array, post, wait_scored


def test_failed_fit_marks_series(
    make_client: ClientFactory, series_values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_create = registry.create

    def broken(name: str, params: dict[str, Any] | None = None) -> Any:
        det = real_create(name, params)
        det._fit = lambda x: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
        return det

    monkeypatch.setattr(fitting.registry, "create", broken)
    x = series_values
    with make_client() as client:
        r = post(client, "f", np.arange(60), x[:60])
        assert r.status_code == 200
        info = wait_scored(client, "f")
        assert info["status"] == "failed" and "fit failed: boom" in info["error"]
        assert all(s["raw_score"] is None for s in r.json()["scores"])
        assert post(client, "f", [60], [x[60]]).json()["pending"] == 0  # no waiting forever
        assert 'anomalyd_fit_failures_total{detector="mad"} 1.0' in client.get("/metrics").text
    monkeypatch.setattr(fitting.registry, "create", real_create)
    with make_client() as client:  # the failure survives a restart; a PUT refits
        assert client.get("/v1/series/f").json()["status"] == "failed"
        client.put("/v1/series/f", json={"train_points": 30})
        r = post(client, "f", np.arange(61, 180), x[61:])
        det = registry.create("mad", {"window": 8}).fit(x[31:61])
        np.testing.assert_allclose(
            as_array([s["raw_score"] for s in r.json()["scores"]]), det.score(x)[61:]
        )
        assert client.get("/v1/series/f").json()["status"] == "ready"


def test_slow_fit_does_not_block_writes(
    make_client: ClientFactory, series_values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real_batch = fitting.fit_batch

    def slow_batch(*args: Any) -> Any:
        gate.wait(10)
        return real_batch(*args)

    monkeypatch.setattr(fitting, "fit_batch", slow_batch)
    x = series_values
    with make_client(score_wait_timeout_s=0.05) as client:
        r = post(client, "s", np.arange(TRAIN + 5), x[: TRAIN + 5])
        assert r.json()["status"] == "fitting" and r.json()["pending"] == 5
        r = post(client, "s", np.arange(TRAIN + 5, 120), x[TRAIN + 5 : 120])
        assert r.status_code == 200 and r.json()["pending"] == 120 - TRAIN - 5
        gate.set()
        info = wait_scored(client, "s")
        assert info["status"] == "ready" and info["scored"] == 120
        pts = client.get("/v1/series/s/scores").json()["points"]
    det = registry.create("mad", {"window": 8}).fit(x[:TRAIN])
    got = as_array([p["raw_score"] for p in pts])
    np.testing.assert_allclose(got[TRAIN:], det.score(x[:120])[TRAIN:], atol=1e-9)


def test_a_running_refit_is_shown(
    make_client: ClientFactory, series_values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, fits = threading.Event(), []
    real_batch = fitting.fit_batch

    def refit_waits(*args: Any) -> Any:
        fits.append(1)
        if len(fits) > 1:
            gate.wait(10)
        return real_batch(*args)

    monkeypatch.setattr(fitting, "fit_batch", refit_waits)
    x = series_values
    with make_client(default_refit_every=20, score_wait_timeout_s=0.05) as client:
        post(client, "r", np.arange(TRAIN + 5), x[: TRAIN + 5])
        info = wait_scored(client, "r")
        assert info["status"] == "ready" and info["fitting"] is False
        r = post(client, "r", np.arange(TRAIN + 5, TRAIN + 30), x[TRAIN + 5 : TRAIN + 30])
        assert r.json()["pending"] > 0
        info = client.get("/v1/series/r").json()
        assert info["status"] == "ready" and info["fitting"] is True
        gate.set()
        info = wait_scored(client, "r")
        assert info["fitting"] is False and info["pending"] == 0


def test_scoring_error_marks_series_failed(
    client: TestClient, series_values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = series_values
    post(client, "e", np.arange(60), x[:60])
    state = client.app.state.engine.get("e")  # type: ignore[attr-defined]
    assert state.model is not None

    def fail(values: Any) -> Any:
        raise RuntimeError("kaput")

    det = state.model.detector
    monkeypatch.setattr(det, "_score", fail)  # one by one
    monkeypatch.setattr(type(det), "_score_many", classmethod(lambda cls, items: fail(items)))
    r = post(client, "e", [60, 61], x[60:62])
    assert r.status_code == 200 and r.json()["scores"][0]["raw_score"] is None
    info = client.get("/v1/series/e").json()
    assert info["status"] == "failed" and "scoring failed: kaput" in info["error"]
    assert client.get("/readyz").status_code == 200


def _gate_first_batch(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, list[int]]:
    """Hold the first fit batch until the event is set; record every batch's size."""
    gate, sizes = threading.Event(), []
    real_batch = fitting.fit_batch

    def gated(store: Any, requests: list[Any]) -> Any:
        sizes.append(len(requests))
        if len(sizes) == 1:
            gate.wait(10)
        return real_batch(store, requests)

    monkeypatch.setattr(fitting, "fit_batch", gated)
    return gate, sizes


@pytest.mark.parametrize("batched_fit_fails", [False, True])
def test_fits_that_queue_up_run_as_one_batch(
    make_client: ClientFactory,
    series_values: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    batched_fit_fails: bool,
) -> None:
    gate, sizes = _gate_first_batch(monkeypatch)
    if batched_fit_fails:  # then every series of the batch is fitted on its own
        monkeypatch.setattr(fitting, "fit_calibrated_many", lambda *a, **k: 1 / 0)
    x = series_values
    with make_client(score_wait_timeout_s=0.0) as client:
        for sid in "abcd":
            post(client, sid, np.arange(TRAIN + 3), x[: TRAIN + 3])
        gate.set()
        infos = [wait_scored(client, sid) for sid in "abcd"]
        scores = client.get("/v1/series/d/scores").json()["points"]
    assert sizes == [1, 3]
    assert all(info["status"] == "ready" for info in infos)
    det = registry.create("mad", {"window": 8}).fit(x[:TRAIN])
    got = as_array([p["raw_score"] for p in scores])
    np.testing.assert_allclose(got[TRAIN:], det.score(x[: TRAIN + 3])[TRAIN:], atol=1e-9)


def test_one_bad_series_in_a_fit_batch_fails_alone(
    make_client: ClientFactory, series_values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, sizes = _gate_first_batch(monkeypatch)
    real_create = registry.create

    def breaks_window_9(name: str, params: dict[str, Any] | None = None) -> Any:
        det = real_create(name, params)
        if (params or {}).get("window") == 9:
            det._fit = lambda x: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
        return det

    monkeypatch.setattr(fitting.registry, "create", breaks_window_9)
    x = series_values
    with make_client(score_wait_timeout_s=0.0) as client:
        client.put("/v1/series/bad", json={"params": {"window": 9}})
        for sid in ("first", "ok1", "bad", "ok2"):
            post(client, sid, np.arange(TRAIN + 3), x[: TRAIN + 3])
        gate.set()
        status = {sid: wait_scored(client, sid)["status"] for sid in ("ok1", "bad", "ok2")}
    assert sizes == [1, 3]
    assert status == {"ok1": "ready", "bad": "failed", "ok2": "ready"}


@pytest.mark.parametrize(
    ("linger", "idle", "expected"),
    [(0.002, 0.01, True), (0.002, 1.0, False), (0.0, 0.0, False)],
)
def test_the_scheduler_lingers_only_while_writes_keep_coming(
    linger: float, idle: float, expected: bool
) -> None:
    owner = SimpleNamespace(settings=Settings(batch_linger_s=linger))
    assert Scheduler._linger(owner, idle) is expected  # type: ignore[arg-type]
