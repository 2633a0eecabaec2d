"""Every shipped alert links to its section of the runbook each anomalyd serves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "anomalyd-rules.yml"
NOT_FROM_ANOMALYD = {"AnomalydBackfillStalled"}  # node_exporter's metrics: no runbook to link
# anomaly_score keeps the input's own instance: the scrape job names the scoring anomalyd
SCORING_HOST = (
    "{{ with $labels.anomalyd_instance }}{{ . }}{{ else }}{{ $labels.instance }}{{ end }}"
)


def test_every_alert_links_to_a_section_the_service_serves(client: TestClient) -> None:
    page = client.get("/dashboard/runbook.html")
    assert page.status_code == 200
    sections = set(re.findall(r'<h2 id="(\w+)">\1</h2>', page.text))
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} <= sections  # every alert has a section
    for rule in rules:
        url = rule["annotations"].get("runbook_url")
        if rule["alert"] in NOT_FROM_ANOMALYD:
            assert url is None
            continue
        host = SCORING_HOST if "anomaly_score" in rule["expr"] else "{{ $labels.instance }}"
        assert url == f"http://{host}/dashboard/runbook.html#{rule['alert']}", rule["alert"]
