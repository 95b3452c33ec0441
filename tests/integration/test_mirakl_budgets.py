"""Marketplace budgets over the simulators: calls made by two flows in one "worker" (the order feed's
DBOS workflow, and the orders flow by hand, which is then refused a slot and defers) are read back by
another runtime on the same database, as the console's page, its JSON twin and the CLI show them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from dbos import DBOS
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from marketbridge.adapters.db.models.core import User
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.adapters.errors import RateLimited
from marketbridge.bootstrap import build_runtime
from marketbridge.call_flow import acting_as
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from marketbridge.services import budgets as budget_service
from marketbridge.web.app import create_app
from marketbridge.workflows import engine
from marketbridge.workflows import order_feed as feed_workflows
from tests.conftest import make_settings
from tests.integration.test_order_feed import place

QUIET = {"stock_sync_enabled": False, "price_sync_enabled": False, "refund_sync_enabled": False,
         "catalogue_publish_enabled": False, "audit_enabled": False}
PASSWORD = "correct horse battery"


def _spend(worker: Any, sandboxes: Any) -> None:
    """The order feed's workflow reads OR11; then the orders flow reads it, and asks again at once
    with no patience: refused (the pace) and recorded as its deferral."""
    place(sandboxes, 1)
    engine.launch(worker, schedules=False)
    try:
        result = DBOS.start_workflow(feed_workflows.feed_workflow).get_result()
        assert result["read"]["orders"] == 1
    finally:
        engine.shutdown()
    client = worker.mirakl
    with acting_as("orders"):
        client.call("OR11", params={"max": 1})
        client.max_limiter_wait = 0.0
        with pytest.raises(RateLimited):
            client.call("OR11", params={"max": 1})
    worker.call_usage.flush()


def test_two_flows_calls_are_read_back_by_another_process(migrated_db_url: str, fresh_sandboxes: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the feed's first read through OR11 (not the export a 7-day look-back asks for): its OR11 calls are counted
    settings = make_settings(migrated_db_url, fresh_sandboxes, order_feed_export_after_seconds=0, **QUIET)
    worker = build_runtime(settings)
    console = build_runtime(settings)
    try:
        _spend(worker, fresh_sandboxes)

        report = budget_service.report(console)
        or11 = next(api for api in report.apis if api.api == "OR11")
        by_flow = {f.flow: f.last_hour for f in or11.flows}
        assert by_flow.get("order_feed", 0) >= 1 and by_flow.get("orders") == 1, by_flow
        assert or11.last_minute == sum(by_flow.values())
        assert or11.per_minute == 100 and or11.pace == pytest.approx(0.6)  # 60 s x rate scale 0.01
        assert [(d.flow, d.api) for d in report.deferrals] == [("orders", "OR11")]
        assert {"STO01", "PRI01", "OF01"} <= {api.api for api in report.apis}  # always listed

        with console.db.session() as s:
            auth.create_user(SqlPeopleRepository(s), "cara", Role.CUSTOMER_SERVICE, PASSWORD)
            cara = s.scalars(select(User).where(User.name == "cara")).one()
            token = auth.create_token(SqlPeopleRepository(s), cara)
        with TestClient(create_app(console, start_engine=False)) as web:
            assert web.get("/api/mirakl/budgets").status_code == 401
            assert web.get("/budgets", follow_redirects=False).status_code == 303
            body = web.get("/api/mirakl/budgets", headers={"Authorization": f"Bearer {token}"}).json()
            row = next(api for api in body["apis"] if api["api"] == "OR11")
            assert {f["flow"] for f in row["flows"]} == {"order_feed", "orders"}
            assert row["limit_per_minute"] == 100 and row["pace"].startswith("once every")
            assert body["deferrals"][0]["flow"] == "orders" and "OR11" in body["deferrals"][0]["text"]

            csrf = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text).group(1)
            web.post("/login", data={"name": "cara", "password": PASSWORD, "csrf_token": csrf}, follow_redirects=False)
            page = web.get("/budgets")
            assert page.status_code == 200
            assert "Marketplace budgets" in page.text and 'href="/budgets"' in page.text
            assert re.search(r"orders: wait(ing|ed) for OR11", page.text), page.text
            assert "order feed: " in page.text  # the feed's OR11 calls, by flow
            fragment = web.get("/budgets", headers={"HX-Request": "true"})
            assert fragment.status_code == 200 and "<html" not in fragment.text and "OR11" in fragment.text

        for key, value in {"MARKETBRIDGE_DATABASE_URL": migrated_db_url,
                           "MARKETBRIDGE_MIRAKL_BASE_URL": fresh_sandboxes.mirakl_url,
                           "MARKETBRIDGE_MAGENTO_BASE_URL": fresh_sandboxes.magento_url,
                           "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.01"}.items():
            monkeypatch.setenv(key, value)
        from marketbridge.cli.main import app

        shown = CliRunner().invoke(app, ["mirakl", "budgets", "--json"])
        assert shown.exit_code == 0, shown.output
        cli_row = next(api for api in json.loads(shown.output)["apis"] if api["api"] == "OR11")
        assert {f["flow"] for f in cli_row["flows"]} == {"order_feed", "orders"}
        table = CliRunner().invoke(app, ["mirakl", "budgets"])
        assert table.exit_code == 0 and "Marketplace budgets" in table.output and "OR11" in table.output
    finally:
        worker.close()
        console.close()
