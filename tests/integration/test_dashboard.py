"""The dashboard in real headless Chromium (Debian ``chromium``, driven by Playwright with
``executable_path``; never a downloaded browser) against the real service over HTTP.

Screenshots of every view go to ``test-artifacts/screenshots/`` for review. Skipped when
``chromium`` is missing, except with ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from anomalyd.service.cli import app as cli_app
from tests.integration._server import ROOT, Server, free_port, system_binary, wait_until

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
STEP = 60.0
T0 = 1_700_000_000.0
LONG = 20_000
SPIKE_AT = 15_000
DETECTOR = {"detector": "mad", "params": {"window": 16}, "train_points": 500, "refit_every": 0}


def _write(url: str, series: str, values: np.ndarray, first: int = 0) -> None:
    ts = T0 + STEP * (first + np.arange(len(values)))
    body = {"timestamps": ts.tolist(), "values": values.tolist()}
    httpx.post(f"{url}/v1/series/{series}/points", json=body, timeout=60).raise_for_status()


def _wait_scored(url: str, series: str, n: int) -> None:
    scored = lambda: httpx.get(f"{url}/v1/series/{series}").json()["scored"] >= n  # noqa: E731
    wait_until(scored, f"{series}: {n} points scored")


def _suite(folder: Path) -> Path:
    """Two labelled CSV series (spikes labelled) for ``anomalyd evaluate``."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("cpu", "latency"):
        values = rng.normal(0.0, 1.0, 1_500)
        labels = np.zeros(1_500, dtype=int)
        for at in (700, 1_100, 1_400):
            values[at] += 9.0
            labels[at - 2 : at + 3] = 1
        rows = "".join(f"{v},{lab}\n" for v, lab in zip(values, labels, strict=True))
        (folder / f"{name}.csv").write_text("value,label\n" + rows)
    tiny = rng.normal(0.0, 1.0, 150)  # too short a training prefix for residual; mad scores it
    tiny[120] += 9.0
    rows = "".join(f"{v},{int(i == 120)}\n" for i, v in enumerate(tiny))
    (folder / "tiny.csv").write_text("value,label\n" + rows)
    return folder


def _evaluate(suite: Path, data_dir: Path) -> dict[str, Any]:
    """``anomalyd evaluate --store`` into the running service's data dir; results.json."""
    out = suite.parent / "results.json"
    argv = ["evaluate", "--suite", str(suite), "--train-fraction", "0.3", "--detector", "mad",
            "--detector", "residual", "--param", "mad.window=16", "--output", str(out),
            "--store", str(data_dir)]  # fmt: skip
    result = CliRunner().invoke(cli_app, argv)
    assert result.exit_code == 0, result.output
    assert "stored as evaluation" in result.output
    return dict(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with two series (a long one with a spike, a short one) and one stored
    evaluation run."""
    tmp = tmp_path_factory.mktemp("dash")
    server = Server(tmp / "data").start()
    try:
        _evaluate(_suite(tmp / "suite"), server.data_dir)
        values = np.random.default_rng(0).normal(10.0, 1.0, LONG)
        values[SPIKE_AT] += 25.0
        for series, n in (("long", LONG), ("short", 2_000)):
            httpx.put(f"{server.url}/v1/series/{series}", json=DETECTOR).raise_for_status()
            _write(server.url, series, values[:n])
            _wait_scored(server.url, series, n)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = system_binary(("chromium", "chromium-browser"), "`chromium`")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """A page that records console errors, page errors and the API requests it makes."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1200, "height": 800})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.url = url

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def open(self, fragment: str) -> Any:
        self.page.goto(f"{self.url}/dashboard/#/{fragment}")
        self.page.wait_for_selector("body[data-ready=true]")
        return self.page

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def resolution(self) -> tuple[int, int]:
        line = self.page.locator(".resolution").first
        return int(line.get_attribute("data-total")), int(line.get_attribute("data-shown"))


@pytest.fixture
def page(browser: Any, service: str) -> Iterator[Page]:
    opened = Page(browser, service)
    yield opened
    opened.page.close()


@pytest.mark.parametrize(
    ("fragment", "drawn"),
    [
        ("live", "canvas"),
        ("series", "canvas"),
        ("series?id=short", "canvas"),
        ("unknown-view", "canvas"),
        ("leaderboard", "#leaderboard td"),
    ],
)
def test_every_view_loads_without_errors(page: Page, fragment: str, drawn: str) -> None:
    p = page.open(fragment)
    p.wait_for_selector(drawn)
    assert page.errors == []
    assert p.locator("#error").is_hidden()
    page.shot(fragment.replace("?", "-").replace("=", "-"))


def test_series_view_draws_values_scores_and_alerts(page: Page) -> None:
    p = page.open("series?id=long")
    p.wait_for_selector(".chart.scores canvas")
    total, shown = page.resolution()
    assert total == LONG and 100 < shown < LONG
    drawn = p.evaluate(
        "() => window.anomalyd.plots.map((u) => ({n: u.data[0].length,"
        " finite: u.data[1].filter((v) => v !== null).length, max: Math.max(...u.data[1])}))"
    )
    values, scores = drawn
    assert values["n"] == shown and values["finite"] == shown
    assert values["max"] > 30  # MinMaxLTTB keeps the spike
    assert scores["finite"] > shown // 2 and scores["max"] > 2  # the spike's score, critical
    alerts = p.evaluate("() => window.anomalyd.alerts.map((a) => [a.start, a.severity])")
    assert [T0 + STEP * SPIKE_AT, "critical"] in alerts
    assert page.errors == []
    page.shot("series-long")


def test_zoom_fetches_a_finer_resolution(page: Page) -> None:
    p = page.open("series?id=long")
    p.wait_for_selector(".chart.values canvas")
    total, shown = page.resolution()
    box = p.locator(".chart.values .u-over").bounding_box()
    page.requests.clear()
    y = box["y"] + box["height"] / 2
    p.mouse.move(box["x"] + box["width"] * 0.70, y)
    p.mouse.down()
    p.mouse.move(box["x"] + box["width"] * 0.80, y, steps=5)
    p.mouse.up()
    p.wait_for_function(f"document.querySelector('.resolution').dataset.total < {total}")
    zoomed_total, zoomed_shown = page.resolution()
    assert 0 < zoomed_total < total / 5
    assert zoomed_shown / zoomed_total > shown / total  # more of the points in view drawn
    chart_requests = [u for u in page.requests if "/chart?" in u]
    assert chart_requests and "start=" in chart_requests[-1] and "end=" in chart_requests[-1]
    assert "start=" in p.url and "end=" in p.url  # the zoom is in the URL
    reopened = Page(page.page.context.browser, page.url)
    reopened.page.goto(p.url)
    reopened.page.wait_for_selector("body[data-ready=true]")
    assert reopened.resolution()[0] == zoomed_total  # a shared link opens the same view
    reopened.page.close()
    assert page.errors == []
    page.shot("series-zoomed")


def test_live_view_shows_a_new_point_without_reload(page: Page, service: str) -> None:
    p = page.open("live?id=short&poll=300")
    row = p.locator("tr[data-series=short]")
    before = row.locator(".last-ts").inner_text()
    p.evaluate("() => { window.notReloaded = true; }")
    _write(service, "short", np.array([60.0]), first=2_000)
    _wait_scored(service, "short", 2_001)
    new_ts = datetime.fromtimestamp(T0 + STEP * 2_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    p.wait_for_function(
        f"document.querySelector('tr[data-series=short] .last-ts').innerText === '{new_ts}'"
    )
    assert before != new_ts
    assert p.evaluate("() => window.notReloaded") is True
    score = row.locator(".score")
    assert "critical" in score.get_attribute("class")
    assert float(score.inner_text()) > 2
    assert page.errors == []
    page.shot("live-after-new-point")


def test_clicking_a_live_row_selects_its_series(page: Page) -> None:
    p = page.open("live?poll=300")
    p.wait_for_selector("#live-charts h3")
    assert p.locator("#live-charts h3").inner_text().startswith("long")
    p.locator("tr[data-series=short] td.status").click()
    p.wait_for_function(
        "(document.querySelector('#live-charts h3')?.innerText || '').startsWith('short')"
    )
    assert p.locator("tr[data-series=short]").get_attribute("class") == "selected"
    assert page.errors == []


def test_an_api_error_is_shown_on_the_page(page: Page) -> None:
    p = page.open("series?id=long&start=not-a-time")
    p.wait_for_selector("#error:not([hidden])")
    assert "start" in p.locator("#error").inner_text()
    page.shot("series-error")


def test_make_run_address_serves_the_page(service: str) -> None:
    root = httpx.get(f"{service}/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/dashboard/"
    uplot = httpx.get(f"{service}/dashboard/vendor/uplot/uPlot.iife.min.js")
    assert uplot.status_code == 200 and b"uPlot" in uplot.content[:200]
    assert Path(ROOT / "service" / "dashboard" / "vendor" / "uplot" / "LICENSE").exists()


def test_the_api_page_works_without_the_internet(page: Page, service: str) -> None:
    page.page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page.page.goto(f"{service}/docs")
    page.page.wait_for_selector(".swagger-ui .opblock")
    paths = page.page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert "/v1/series/{series_id}/points" in [p.replace("\u200b", "") for p in paths]
    assert page.page.locator(".swagger-ui .info .title").inner_text().startswith("anomalyd")
    assert page.errors == [] and all(u.startswith(service) for u in page.requests)
    page.shot("api-docs")


def test_leaderboard_holds_the_rows_of_a_stored_run(page: Page, service: str) -> None:
    runs = httpx.get(f"{service}/v1/evaluations").json()["evaluations"]
    board = httpx.get(f"{service}/v1/evaluations/{runs[0]['id']}").json()
    results = {r["detector"]: r for r in board["rows"] if not r["reference"]}
    p = page.open("leaderboard")
    for detector in ("mad", "residual"):
        row = p.locator(f"#leaderboard tr[data-detector={detector}]")
        mean = np.mean([s["vus_pr"] for s in results[detector]["series"].values()])
        assert row.locator("td").nth(2).inner_text() == f"{mean:.3f}"  # VUS-PR, all series
    bold = p.locator("#leaderboard td.best").count()
    assert bold >= len(board["metrics"])  # best in bold, per column
    p.locator("#leaderboard th", has_text="fit s").first.click()
    p.wait_for_selector("th.sorted")
    assert "sort=fit_seconds" in p.url
    p.locator("#leaderboard tr[data-detector=mad] td").nth(2).click()
    p.wait_for_selector("#per-series tr[data-series]")
    names = p.locator("#per-series tr[data-series]").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.series)"
    )
    assert sorted(names) == ["cpu", "latency", "tiny"]
    assert "detector=mad" in p.url
    assert page.errors == []
    page.shot("leaderboard-per-series")


def test_make_run_prints_the_dashboard_and_its_live_view_shows_the_demo(
    browser: Any, tmp_path: Path
) -> None:
    port = free_port()
    cmd = [sys.executable, "-c", "from anomalyd.service.cli import main; main()", "demo"]
    cmd += ["--port", str(port), "--data-dir", str(tmp_path / "demo"), "--rate", "500"]
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        printed = lambda: re.search(r"http://\S+/dashboard/", log.read_text())  # noqa: E731
        address = wait_until(printed, f"the dashboard's address in {log}", 120)
        assert address.group(0) == f"http://127.0.0.1:{port}/dashboard/"
        page = browser.new_page()
        page.goto(f"{address.group(0)}#/live?poll=300")
        page.wait_for_selector("tr[data-series=demo-ec2-cpu]")
        page.wait_for_selector("#live-charts canvas")
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_evaluated_series_shows_labels_scores_and_curves_side_by_side(
    page: Page, service: str
) -> None:
    p = page.open("leaderboard")
    p.locator("#leaderboard tr[data-detector=mad] td").nth(2).click()
    p.locator("#per-series tr[data-series=cpu] a").click()
    p.wait_for_selector(".curve-panel[data-detector=mad] .chart.vus canvas")
    assert p.evaluate("() => window.anomalyd.labelSpans") == [
        [at - 2, at + 2] for at in (700, 1_100, 1_400)
    ]
    assert p.locator(".chart.scores[data-detector=mad] canvas").count() == 1
    p.select_option("#compare-picker", "residual")
    p.wait_for_selector(".curve-panel[data-detector=residual] .chart.vus canvas")
    runs = httpx.get(f"{service}/v1/evaluations").json()["evaluations"]
    board = httpx.get(f"{service}/v1/evaluations/{runs[0]['id']}").json()
    for row in board["rows"][:2]:
        figures = p.locator(f".curve-panel[data-detector={row['detector']}] .curve-figures")
        assert f"VUS-PR {row['series']['cpu']['vus_pr']:.3f}" in figures.inner_text()
    assert "compare=residual" in p.url and "series=cpu" in p.url
    total = int(p.locator(".resolution").get_attribute("data-total"))
    box = p.locator(".chart.values .u-over").bounding_box()
    p.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + 50)
    p.mouse.down()
    p.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 50, steps=4)
    p.mouse.up()
    p.wait_for_function(f"document.querySelector('.resolution').dataset.total < {total}")
    assert "start=" in p.url
    assert p.locator(".curve-panel .chart.vus canvas").count() == 2  # zoom keeps the curves
    assert page.errors == []
    page.shot("evaluated-series-curves")


def test_a_detector_that_failed_on_a_series_says_why_beside_one_that_scored(page: Page) -> None:
    p = page.open("leaderboard")
    p.locator("#leaderboard tr[data-detector=residual] td").nth(2).click()
    failed = p.locator("#per-series tr.failed[data-series=tiny]")
    assert "could not score" in failed.inner_text()
    run = p.url.split("run=")[1].split("&")[0]
    p.goto(f"{page.url}/dashboard/#/evaluated?run={run}&series=tiny&detector=mad&compare=residual")
    p.wait_for_selector(".curve-panel.failed[data-detector=residual]")
    p.wait_for_selector(".chart.scores[data-detector=mad] canvas")
    assert "needs at least" in p.locator("p.failed[data-detector=residual]").inner_text()
    assert p.locator("#error").is_hidden()
    page.shot("evaluated-series-failed-detector")
