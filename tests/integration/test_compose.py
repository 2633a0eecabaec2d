"""``deploy/compose.yaml``: its structure (services, ports, volumes, every mounted file present,
anomalyd built from ``docker/``), and the configurations it mounts checked by Debian's
``promtool`` and ``amtool``. No container engine runs here; the image's install steps are
exercised by ``test_install.py``."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.integration._server import ROOT, system_binary

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SERVICES = {"anomalyd", "prometheus", "alertmanager", "grafana", "node-exporter"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v.split(":")[0], v.split(":")[1]) for v in service.get("volumes", [])]


def test_the_demo_has_every_service_on_its_own_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    host_ports = [p.split(":")[0] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)) == len(SERVICES)
    for name, s in services.items():
        assert s.get("image") and s.get("restart") == "unless-stopped", name
        assert set(s.get("depends_on", [])) <= SERVICES, name


def test_anomalyd_is_built_from_docker_with_a_data_volume(compose: dict[str, Any]) -> None:
    svc = compose["services"]["anomalyd"]
    context = (DEPLOY / svc["build"]["context"]).resolve()
    assert context == ROOT and (context / svc["build"]["dockerfile"]).is_file()
    assert ("anomalyd-data", "/data") in _mounts(svc)
    named = {src for s in compose["services"].values() for src, _ in _mounts(s) if "/" not in src}
    assert named == set(compose["volumes"])


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, s in compose["services"].items():
        for src, _ in _mounts(s):
            if src.startswith("./"):
                assert (DEPLOY / src).exists(), f"{name}: {src}"


def test_prometheus_config_of_the_demo_passes_promtool(compose: dict[str, Any]) -> None:
    promtool = system_binary(("promtool",), "`prometheus`")
    config = DEPLOY / "prometheus" / "compose.yml"
    out = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    parsed = yaml.safe_load(config.read_text())
    targets = {
        t for job in parsed["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {"anomalyd:8080", "node-exporter:9100"}
    assert parsed["remote_write"][0]["url"] == "http://anomalyd:8080/api/v1/write"
    command = compose["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/compose.yml" in command


def test_alertmanager_config_of_the_demo_passes_amtool(compose: dict[str, Any]) -> None:
    amtool = system_binary(("amtool",), "`prometheus-alertmanager`")
    [(src, _)] = _mounts(compose["services"]["alertmanager"])
    out = subprocess.run(
        [amtool, "check-config", str(DEPLOY / src)], capture_output=True, text=True
    )
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_grafana_provisions_the_dashboards(compose: dict[str, Any]) -> None:
    mounts = dict(_mounts(compose["services"]["grafana"]))
    provisioning = DEPLOY / next(s for s, d in mounts.items() if d == "/etc/grafana/provisioning")
    dashboards_dir = next(d for s, d in mounts.items() if s.endswith("dashboards"))
    provider = yaml.safe_load((provisioning / "dashboards" / "anomalyd.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == dashboards_dir
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
