"""The images' install script (``docker/install.sh``) in a clean virtual environment: what the
Dockerfiles do, exercised without a container engine. The installed package (not this checkout)
must serve the API and the dashboard, and every command's imports must be installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration._server import ROOT, answers_ok, free_port, wait_until

SCRIPT = ROOT / "docker" / "install.sh"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with anomalyd installed by the script from this checkout (a wheel is
    built: package data must be declared to arrive)."""
    folder = tmp_path_factory.mktemp("clean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    env = {**os.environ, "PYTHON": str(folder / "bin" / "python")}
    env.pop("VIRTUAL_ENV", None)
    out = subprocess.run(
        ["bash", str(SCRIPT), str(ROOT)], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "anomalyd installed: 0.1.0" in out.stdout
    return folder


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_installed_package_serves_the_api_and_the_dashboard(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    cmd = [str(venv / "bin" / "anomalyd"), "serve", "--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen([*cmd, "--port", str(port)], cwd=tmp_path)  # not the checkout
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers_ok(f"{base}/readyz", proc), "the installed service ready", 120)
        page = httpx.get(f"{base}/dashboard/")
        assert page.status_code == 200 and "uPlot" in page.text
        for path in ("dashboard.js", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/LICENSE"):
            assert httpx.get(f"{base}/dashboard/{path}").status_code == 200, path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_every_command_imports_in_the_installed_package(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    modules = ("demo", "cli", "backfill", "evaluation", "routers.dashboard", "prompb")
    code = "".join(f"import anomalyd.service.{m}; " for m in modules) + "print('ok')"
    out = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    for command in ("serve", "demo", "evaluate", "backfill", "detectors"):
        helped = subprocess.run(
            [str(venv / "bin" / "anomalyd"), command, "--help"], capture_output=True, text=True
        )
        assert helped.returncode == 0, helped.stderr


def test_both_images_install_with_the_script_and_makes_torch_pin() -> None:
    pin = re.search(r"TORCH\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text())
    assert pin is not None
    assert f"torch=${{TORCH:-{pin.group(1)}}}" in SCRIPT.read_text()
    for name in ("Dockerfile", "Dockerfile.cuda"):
        text = (ROOT / "docker" / name).read_text()
        assert (
            "docker/install.sh /app" in text and "HEALTHCHECK" in text and "USER anomalyd" in text
        )


@pytest.mark.slow
def test_installs_under_its_own_name_beside_pypi_packages_of_the_folder_names(
    venv: Path, tmp_path: Path
) -> None:
    """The folders ``detectors/``, ``metrics/`` and ``service/`` install as ``anomalyd.*``:
    PyPI's own ``detectors`` and ``metrics`` install beside anomalyd and keep their names."""
    python = str(venv / "bin" / "python")
    find = "import importlib.util as u; print(u.find_spec('{}'))"
    for name in ("detectors", "metrics", "service"):
        out = subprocess.run([python, "-c", find.format(name)], cwd=tmp_path, capture_output=True)
        assert out.stdout.strip() == b"None", name
    pypi = ["detectors==0.1.11", "metrics==0.0.2"]
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", *pypi]
    subprocess.run(pip, cwd=tmp_path, check=True, timeout=300)
    spec = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('detectors').origin)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    theirs = Path(spec.stdout.strip()).parent
    assert (theirs / "criterions.py").is_file(), spec  # PyPI's package, not ours
    listed = subprocess.run(
        [str(venv / "bin" / "anomalyd"), "detectors"], cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "ensemble" in listed.stdout, listed.stderr
