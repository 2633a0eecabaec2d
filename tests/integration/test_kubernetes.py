"""``deploy/kubernetes/``: every manifest valid against the Kubernetes schemas
(``kubernetes-validate``, strict: unknown fields refused), and the settings that sharding and
the store rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration._server import ROOT

validate = pytest.importorskip("kubernetes_validate", reason="pip install -e '.[dev]'")

FOLDER = ROOT / "deploy" / "kubernetes"
CORE = sorted(p for p in FOLDER.glob("*.yaml") if p.name != "kustomization.yaml")


def _doc(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((FOLDER / name).read_text()))


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_manifest_is_valid(path: Path) -> None:
    validate.validate(yaml.safe_load(path.read_text()), "1.30.0", strict=True)


def test_an_unknown_field_is_refused() -> None:
    broken = _doc("statefulset.yaml")
    broken["spec"]["replica"] = 3  # a typo of replicas
    with pytest.raises(validate.ValidationError):
        validate.validate(broken, "1.30.0", strict=True)


def test_kustomization_lists_every_manifest() -> None:
    assert sorted(_doc("kustomization.yaml")["resources"]) == sorted(p.name for p in CORE)


def test_each_replica_owns_a_store_and_is_ready_only_when_scoring() -> None:
    spec = _doc("statefulset.yaml")["spec"]
    assert spec["podManagementPolicy"] == "Parallel" and spec["serviceName"] == "anomalyd"
    [claim] = spec["volumeClaimTemplates"]
    [container] = spec["template"]["spec"]["containers"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _doc("service.yaml")["spec"]["clusterIP"] == "None"  # pod DNS names for shard URLs
    assert _doc("configmap.yaml")["data"]["ANOMALYD_DATA_DIR"] == "/data"
