"""Run the service with uvicorn: ``serve(host, port, data_dir)`` (``anomalyd serve``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    disable_created_metrics,
    gc_collector,
    platform_collector,
    process_collector,
)

from anomalyd.service.app import create_app
from anomalyd.service.settings import load_settings


def build_registry() -> CollectorRegistry:
    """A registry with the process / platform / GC collectors (``process_*`` etc.)."""
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry


def serve(
    host: str,
    port: int,
    data_dir: Path,
    *,
    log_level: str = "info",
    **overrides: Any,
) -> None:
    """Serve until interrupted; ``overrides`` are :class:`Settings` fields (CLI flags)."""
    run_app(build_app(data_dir, log_level=log_level, **overrides), host, port, log_level)


def build_app(data_dir: Path | None, *, log_level: str = "info", **overrides: Any) -> FastAPI:
    """The app on the settings (environment, then ``overrides``; ``data_dir`` None: the
    environment's ``ANOMALYD_DATA_DIR``, else ``data``), its store opened.

    Raises pydantic's ValidationError for refused settings, ``SchemaError`` or
    sqlite3.DatabaseError for a database it cannot open, ValueError for a default series
    configuration the registry refuses.
    """
    settings = load_settings(data_dir=data_dir, **overrides)
    disable_created_metrics()  # no `*_created` series next to every counter
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return create_app(settings, build_registry())


def run_app(app: FastAPI, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` with uvicorn until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m anomalyd.service.server --data-dir DIR [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="python -m anomalyd.service.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    data_dir = args.data_dir if args.data_dir is not None else load_settings().data_dir
    serve(args.host, args.port, data_dir, log_level=args.log_level)


if __name__ == "__main__":
    main()
