"""Property-based tests generated from the service's own OpenAPI schema (schemathesis): whatever a
client sends that the schema allows, or nearly allows, the service answers without a 5xx.

The app runs in open mode on a copy of the served data, so every route is reachable; the model
writes at most a few tokens per answer, which keeps the many generated questions cheap. The examples
are derandomized, so every CI run sends the same requests; drop `derandomize` to explore further.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from tests.api.conftest import served_settings

#: examples per operation: enough to reach every field and its limits, few enough for CI
EXAMPLES = 25


@pytest.fixture(scope="module")
def api_schema(served_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    data = tmp_path_factory.mktemp("schema") / "data"
    shutil.copytree(served_data, data, symlinks=True)
    app = create_app(served_settings(data, answer_max_tokens=4, upload_sync_mb=100.0))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()  # close the stores, so the data folder's lock is released


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_the_schema_describes_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
