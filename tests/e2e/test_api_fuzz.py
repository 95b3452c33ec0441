"""Fuzz the service's own HTTP API with schemathesis, from its OpenAPI document.

Every operation gets a bounded number of generated requests (valid and invalid) with a valid
bearer token; none may answer with a server error, and every JSON response must match the
schema the operation documents. A second test sends the same operations without a token and
expects a refusal from everything except health checks and signed webhooks.
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.testclient import TestClient

from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from marketbridge.web.app import create_app
from marketbridge.web.routes import flat_routes
from tests.conftest import make_settings

_placeholder = build_runtime(make_settings(f"sqlite:///{tempfile.mkdtemp()}/schema-only.sqlite"))
app = create_app(_placeholder, start_engine=False)  # the fixture attaches a runtime with sandboxes
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
PUBLIC_PATHS = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def api_token(sandboxes, tmp_path_factory):
    from marketbridge.adapters.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.sqlite'}"
    upgrade(url)
    runtime = build_runtime(make_settings(url, sandboxes))
    with runtime.db.session() as session:
        user = auth.create_user(SqlPeopleRepository(session), "fuzzer", Role.ADMIN, "fuzzing-password")
        token = auth.create_token(SqlPeopleRepository(session), user)
    app.state.runtime = runtime
    yield token
    runtime.close()


def not_a_server_error(ctx, response, case):  # type: ignore[no-untyped-def]
    """A 5xx is a failure unless the operation documents it (``/readyz`` answers 503 when not ready)."""
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    if response.status_code >= 500 and str(response.status_code) not in documented:
        raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:300]}")


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_fails_with_a_server_error(case, api_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_everything_but_health_and_webhooks_refuses_anonymous_requests(api_token):
    client = TestClient(app)
    refused, answered = [], []
    for path, methods in flat_routes(app.routes):
        if path in PUBLIC_PATHS or path.startswith(("/webhooks/", "/static", "/openapi", "/docs", "/redoc")) or path == "/login":
            continue
        concrete = path.replace("{", "").replace("}", "").replace(":path", "")
        for method in methods - {"HEAD", "OPTIONS"}:
            response = client.request(method, concrete, follow_redirects=False)
            if response.status_code in (401, 403) or (response.status_code in (302, 303, 307) and "/login" in response.headers.get("location", "")):
                refused.append((method, path))
            else:
                answered.append((method, path, response.status_code))
    assert answered == [], f"answered without authentication: {answered}"
    assert refused, "no protected route was found"
