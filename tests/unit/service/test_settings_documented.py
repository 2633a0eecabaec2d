"""Every setting is documented for operators in service/README.md."""

from __future__ import annotations

from pathlib import Path

from anomalyd.service.settings import Settings

README = Path(__file__).resolve().parents[3] / "service" / "README.md"


def test_every_setting_is_in_the_service_readme() -> None:
    text = README.read_text()
    named = [(f"`{f.upper()}`", f"`ANOMALYD_{f.upper()}`") for f in Settings.model_fields]
    missing = [a for a, b in named if a not in text and b not in text]
    assert missing == [], f"document ANOMALYD_{{name}} for: {missing}"
