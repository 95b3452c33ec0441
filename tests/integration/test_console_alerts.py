"""Alerts over real HTTP: apprise ``json://`` URLs pointing at a receiver on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from marketbridge.adapters.db.alerts import SqlAlertsRepository
from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.notify.apprise_notifier import AppriseNotifier, split_urls
from marketbridge.domain.issues import CONNECTION_FAILED, WORKFLOW_FAILED, IssueReport, Severity
from marketbridge.sandbox.server import free_port, serve_in_thread
from marketbridge.services import alerts
from marketbridge.services import issues as issue_service


class Receiver:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            body["_path"] = request.url.path
            self.messages.append(body)
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/{team}", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    server = serve_in_thread(rec.app)
    try:
        yield rec, f"json://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _settings(runtime: Any, **overrides: Any) -> Any:
    values = {k: SecretStr(v) if k.startswith("alert_urls_") else v for k, v in overrides.items()}
    return runtime.settings.model_copy(update={"console_url": "https://console.example", **values})


def test_split_urls_accepts_commas_and_newlines() -> None:
    assert split_urls(" slack://a/b/c ,\nmailtos://u:p@x.example ,") == ["slack://a/b/c", "mailtos://u:p@x.example"]
    assert split_urls(None) == [] and split_urls("") == []


def test_urgent_problems_alert_once_and_repeats_do_not_flood(runtime: Any, receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    settings = _settings(runtime, alert_urls_ops=f"{base}/ops", alert_repeat_hours=12)
    notifier = AppriseNotifier()
    with runtime.db.session() as s:
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-1", "Importing JL-1-A stopped"))
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-2", "Pushing stock stopped"))
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-3", "Minor thing", severity=Severity.WARNING))
        issue_service.record(s, IssueReport(CONNECTION_FAILED, "mirakl", "Key refused"))  # Ecommerce: no URL
    with runtime.db.session() as s:
        run = alerts.send_urgent(SqlAlertsRepository(s), notifier, settings)
    assert run.sent == {"ops": 2} and run.skipped_no_url == {"ecommerce": 1} and run.failed == {}
    assert len(rec.messages) == 1
    message = rec.messages[0]
    assert message["_path"] == "/ops" and message["type"] == "failure"
    assert message["title"] == "marketbridge: 2 urgent problems for Ops"
    assert "Importing JL-1-A stopped" in message["message"] and "Pushing stock stopped" in message["message"]
    assert "Minor thing" not in message["message"]
    assert "https://console.example/exceptions/" in message["message"]

    # the flow keeps seeing the same problem: same record, no new alert
    with runtime.db.session() as s:
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-1", "Importing JL-1-A stopped again"))
        assert alerts.send_urgent(SqlAlertsRepository(s), notifier, settings).sent == {}
    # it clears and comes back within the window (a new record): still no new alert
    with runtime.db.session() as s:
        issue_service.clear(s, WORKFLOW_FAILED, "wf-1")
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-1", "Importing JL-1-A stopped once more"))
        assert alerts.send_urgent(SqlAlertsRepository(s), notifier, settings).sent == {}
    assert len(rec.messages) == 1
    # still open after the window: one reminder for each still-open urgent problem
    with runtime.db.session() as s:
        later = utcnow() + dt.timedelta(hours=13)
        run = alerts.send_urgent(SqlAlertsRepository(s), notifier, settings, now=later)
    assert run.sent == {"ops": 2}
    assert len(rec.messages) == 2


def test_a_failed_delivery_is_retried_next_time(runtime: Any, receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    dead = f"json://127.0.0.1:{free_port()}/ops"
    with runtime.db.session() as s:
        record = issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-9", "Stopped"))
        record_id = record.id
    with runtime.db.session() as s:
        run = alerts.send_urgent(SqlAlertsRepository(s), AppriseNotifier(),
                                 _settings(runtime, alert_urls_ops=dead))
        assert run.failed == {"ops": 1}
        assert s.get(IssueRecord, record_id).alerted_at is None
    with runtime.db.session() as s:
        assert alerts.send_urgent(SqlAlertsRepository(s), AppriseNotifier(),
                                  _settings(runtime, alert_urls_ops=f"{base}/ops")).sent == {"ops": 1}
        assert s.get(IssueRecord, record_id).alerted_at is not None
    assert len(rec.messages) == 1


def test_daily_digest_summarises_each_team(runtime: Any, receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    settings = _settings(runtime, alert_urls_ops=f"{base}/ops", alert_urls_ecommerce=f"{base}/ecommerce",
                         alert_urls_finance=f"{base}/finance")
    with runtime.db.session() as s:
        for n in range(3):
            issue_service.record(s, IssueReport(WORKFLOW_FAILED, f"wf-{n}", f"Job {n} stopped",
                                                         severity=Severity.WARNING))
        issue_service.record(s, IssueReport(CONNECTION_FAILED, "magento", "Token expired"))
    with runtime.db.session() as s:
        run = alerts.send_digest(SqlAlertsRepository(s), AppriseNotifier(), settings)
    assert run.sent == {"ops": 3, "ecommerce": 1}  # finance has nothing open: no message
    by_team = {m["_path"]: m for m in rec.messages}
    assert set(by_team) == {"/ops", "/ecommerce"}
    ops = by_team["/ops"]
    assert ops["title"] == "marketbridge daily digest for Ops: 3 open"
    assert "3 × A background job stopped after repeated failures" in ops["message"]
    assert "3 new in the last 24 hours" in ops["message"]
    assert by_team["/ecommerce"]["type"] == "info"
    assert "https://console.example/exceptions?team=ops" in ops["message"]


def test_alerts_and_guide_commands(runtime: Any, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from marketbridge.cli.main import app

    rec, base = receiver
    with runtime.db.session() as s:
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "wf-cli", "Stopped job"))
    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("MARKETBRIDGE_ALERT_URLS_OPS", f"{base}/ops")
    runner = CliRunner()
    sent = runner.invoke(app, ["alerts", "urgent", "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout) == {"sent": {"ops": 1}, "skipped_no_url": {}, "failed": {}}
    again = runner.invoke(app, ["alerts", "urgent"])
    assert again.exit_code == 0 and "Nothing to send." in again.output
    digest = runner.invoke(app, ["alerts", "digest"])
    assert digest.exit_code == 0 and "ops: sent (1 problems)" in digest.output
    assert [m["title"] for m in rec.messages] == ["marketbridge: urgent problem for Ops",
                                                  "marketbridge daily digest for Ops: 1 open"]
    check = runner.invoke(app, ["guide", "check"])
    assert check.exit_code == 0, check.output
