"""The Grafana dashboards in ``deploy/grafana/``: their structure, and every PromQL expression
parsed by Debian's ``promtool`` (through a generated rules file) and naming only metrics the
service exports (read from a real ``/metrics`` scrape) or Prometheus' own."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from anomalyd.service.app import create_app
from anomalyd.service.settings import Settings
from tests.integration._server import ROOT, system_binary

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_OWN = {"up", "ALERTS"}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def _targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in doc["panels"] for t in p.get("targets", [])]


def _expressions(doc: dict[str, Any]) -> list[str]:
    """Panel expressions, then the variables' label_values(...) selectors."""
    out = [t["expr"] for t in _targets(doc)]
    for var in doc["templating"]["list"]:
        if var["type"] == "query":
            out.append(re.sub(r"label_values\((.*),\s*\w+\)$", r"\1", var["definition"]))
    return out


def _concrete(expr: str) -> str:
    """Grafana's variables replaced the way it would: ranges by 5m, the others by '.*'."""
    return (
        expr.replace("$__rate_interval", "5m")
        .replace("$job", ".*")
        .replace("$detector", ".*")
        .replace("$series", ".*")
        .replace("$metric", ".*")
    )


def test_there_are_the_two_dashboards() -> None:
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    assert uids == {"anomalyd-scores", "anomalyd-health"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    doc = json.loads(path.read_text())
    names = {v["name"] for v in doc["templating"]["list"]}
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        assert p["datasource"]["uid"] == "${datasource}" and p["title"] and p["description"]
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"][
            "w"
        ] <= 24
        for t in p["targets"]:
            used = {a or b for a, b in VARIABLE.findall(t["expr"])} - {"__rate_interval"}
            assert used <= names, f"{p['title']}: {used - names} not a variable"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_expression_parses_with_promtool(path: Path, tmp_path: Path) -> None:
    promtool = system_binary(("promtool",), "`prometheus`")
    exprs = _expressions(json.loads(path.read_text()))
    rules = [{"record": f"grafana:expr_{i}", "expr": _concrete(e)} for i, e in enumerate(exprs)]
    file = tmp_path / "generated.rules.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    out = subprocess.run([promtool, "check", "rules", str(file)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout + out.stderr


def test_dashboards_name_only_exported_metrics(tmp_path: Path) -> None:
    exported = _exported_metric_names(tmp_path)
    for path in DASHBOARDS:
        for expr in _expressions(json.loads(path.read_text())):
            names = set(re.findall(r"\b(anomaly\w*|up|ALERTS)\b(?=\s*[{\[)]|\s*$| >)", expr))
            assert names, expr
            assert names <= exported | PROMETHEUS_OWN, f"{path.name}: {names - exported}"


def _exported_metric_names(tmp_path: Path) -> set[str]:
    """Every metric family the service's registry declares (counters as ``<name>_total``,
    histograms with ``_bucket``), after a write gave it a scored series."""
    settings = Settings(data_dir=tmp_path / "data", default_detector="mad",
                        default_params={"window": 4}, default_train_points=20)  # fmt: skip
    registry = CollectorRegistry()
    with TestClient(create_app(settings, registry)) as client:
        body = {"timestamps": list(range(1, 60)), "values": [float(i % 7) for i in range(1, 60)]}
        assert client.post("/v1/series/s/points", json=body).status_code == 200
        families = list(registry.collect())
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    return {f.name + end for f in families for end in suffixes.get(f.type, [""])}
