"""Property-based API fuzzing (schemathesis): no input a client can send gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from anomalyd.service.app import create_app  # noqa: E402
from anomalyd.service.settings import Settings  # noqa: E402

EXAMPLES = 200


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(
            data_dir=data_dir,
            default_detector="mad",
            default_train_points=20,
            default_params={"window": 4},
            batch_linger_s=0.0,
            score_wait_timeout_s=1.0,
        ),
        CollectorRegistry(),
    )
    with TestClient(app):  # runs the lifespan: the engine is started
        yield app


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def check_operation(operation: Any) -> int:
    calls = 0

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same 1,000+ requests on every run: no flaky CI
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    run()
    return calls


def test_no_server_errors(app: FastAPI) -> None:
    ops = operations(app)
    assert len(ops) >= 10
    total = sum(check_operation(operation) for operation in ops)
    assert total >= 1000, f"only {total} generated requests"
