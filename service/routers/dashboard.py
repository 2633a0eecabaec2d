"""``/dashboard/``: the dashboard's static page, script and vendored uPlot, served from the
package (no network needed); it reads the same ``/v1`` API as every other client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"

router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/dashboard")
def to_dashboard() -> RedirectResponse:
    """The page loads its files relative to ``/dashboard/``."""
    return RedirectResponse("/dashboard/")


def mount(app: FastAPI) -> None:
    """Serve the dashboard's files at ``/dashboard/`` (``index.html`` for the folder)."""
    app.include_router(router)
    app.mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard")
