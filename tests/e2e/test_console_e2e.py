"""The console with ``marketbridge run`` up: users and tokens from the CLI, an urgent problem
alerted to Ops by the schedule with nobody sending it, the JSON API and /metrics behind the token,
the dashboard behind a log-in, and acting on the issue through the API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from marketbridge.adapters.db.session import Database
from marketbridge.domain.issues import WORKFLOW_FAILED, IssueReport
from marketbridge.sandbox.server import free_port, serve_in_thread
from marketbridge.services import issues as issue_service
from tests.e2e.test_orders_e2e import start_service, stop, wait_until
from tests.e2e.test_shipments_e2e import cli

PASSWORD = "a long enough passphrase"


@pytest.mark.slow
def test_console_and_alerts_with_the_service_running(migrated_db_url: str, sandboxes: Any, tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    receiver = serve_in_thread(Starlette(routes=[Route("/ops", hook, methods=["POST"])]))
    users = cli(migrated_db_url, sandboxes, "users", "add", "olive", "--role", "ops", "--password", PASSWORD)
    assert users.returncode == 0, users.stderr
    tokens = cli(migrated_db_url, sandboxes, "tokens", "create", "--user", "olive")
    assert tokens.returncode == 0, tokens.stderr
    token = tokens.stdout.strip().splitlines()[-1]
    bearer = {"Authorization": f"Bearer {token}"}

    port = free_port()
    log = tmp_path / "service.log"
    service = start_service(migrated_db_url, sandboxes, log, MARKETBRIDGE_WEB_PORT=str(port),
                            MARKETBRIDGE_EXECUTOR_ID="e2e-console",
                            MARKETBRIDGE_ALERT_URLS_OPS=f"json://127.0.0.1:{receiver.port}/ops",
                            MARKETBRIDGE_ALERT_CHECK_CRON="* * * * * *",
                            MARKETBRIDGE_CONSOLE_URL=f"http://127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    db = Database(migrated_db_url)
    try:
        wait_until(lambda: _get(base + "/healthz") == 200, 60, "the service to answer", log)
        # a flow records an urgent problem (here: as the sweeper does for a job that gave up)
        with db.session() as s:
            record_id = issue_service.record(s, IssueReport(
                WORKFLOW_FAILED, "orders.create:JL-000123-A", "Creating order JL-000123-A stopped after every retry")).id
        wait_until(lambda: received, 60, "the urgent alert to reach the Ops receiver", log)
        assert received[0]["title"] == "marketbridge: urgent problem for Ops"
        assert "Creating order JL-000123-A stopped" in received[0]["message"]
        assert f"{base}/exceptions/{record_id}" in received[0]["message"]
        runs_then = _urgent_runs(migrated_db_url)
        wait_until(lambda: _urgent_runs(migrated_db_url) >= runs_then + 2, 60, "two more alert runs", log)
        assert len(received) == 1  # the same problem is not alerted again

        with httpx2.Client(base_url=base, timeout=10) as anonymous:
            assert anonymous.get("/exceptions").status_code == 303
            assert anonymous.get("/api/exceptions").status_code == 401
            assert anonymous.get("/metrics").status_code == 401
        with httpx2.Client(base_url=base, timeout=10, headers=bearer) as api:
            listed = api.get("/api/exceptions", params={"owner": "ops"}).json()
            assert [r["id"] for r in listed] == [record_id]
            assert 'marketbridge_exceptions_open{team="ops",type="workflow_failed"} 1.0' in api.get("/metrics").text
            acted = api.post(f"/api/exceptions/{record_id}/actions", json={"action": "assign", "assignee": "Sam"})
            assert acted.status_code == 200 and acted.json()["exception"]["assignee"] == "Sam"
        with httpx2.Client(base_url=base, timeout=10) as browser:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
            logged = browser.post("/login", data={"name": "olive", "password": PASSWORD, "csrf_token": csrf})
            assert logged.status_code == 303
            page = browser.get(f"/exceptions/{record_id}").text
            assert "Creating order JL-000123-A stopped" in page and "Sam" in page
    finally:
        stop(service)
        receiver.stop()
        db.dispose()


def _urgent_runs(db_url: str) -> int:
    """Completed runs of the urgent-alert schedule, from the engine's own records."""
    from dbos import DBOSClient
    from dbos._serialization import DBOSPortableJSONSerializer

    from marketbridge.adapters.db.engine_store import engine_database_url

    client = DBOSClient(system_database_url=engine_database_url(db_url), serializer=DBOSPortableJSONSerializer())
    try:
        return len(client.list_workflows(name="console.alerts_urgent", status="SUCCESS", load_input=False,
                                         load_output=False))
    finally:
        client.destroy()


def _get(url: str) -> int:
    try:
        return httpx2.get(url, timeout=2).status_code
    except httpx2.HTTPError:
        return 0
