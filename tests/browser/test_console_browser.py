"""A person logs in to the console in a real browser, finds an issue and acts on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.domain.issues import CONNECTION_FAILED, WORKFLOW_FAILED, IssueReport
from marketbridge.sandbox.server import serve_in_thread
from marketbridge.services import auth
from marketbridge.services import issues as issue_service
from marketbridge.web.app import create_app

PASSWORD = "a long enough passphrase"


@pytest.fixture
def console(runtime: Any) -> Iterator[tuple[str, dict[str, int]]]:
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "olive", Role.OPS, PASSWORD)
        ops = issue_service.record(
            s, IssueReport(WORKFLOW_FAILED, "order:JL-000042-A", "Importing order JL-000042-A stopped")
        )
        eco = issue_service.record(
            s, IssueReport(CONNECTION_FAILED, "mirakl", "John Lewis refused our API key")
        )
        ids = {"ops": ops.id, "ecommerce": eco.id}
    server = serve_in_thread(create_app(runtime, start_engine=False))
    try:
        yield server.url, ids
    finally:
        server.stop()


def _login(page: Any, base: str) -> None:
    page.goto(base + "/exceptions")
    assert "/login" in page.url  # anonymous → log-in page
    page.get_by_label("Name").fill("olive")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/exceptions")


def test_log_in_see_an_issue_and_act_on_it(page: Any, console: tuple[str, dict[str, int]], runtime: Any) -> None:
    base, ids = console
    _login(page, base)
    card = page.locator(f"#exception-{ids['ops']}")
    assert "Importing order JL-000042-A stopped" in card.inner_text()

    # assign it (htmx swaps the card in place, no page load)
    card.get_by_label("Assign to").fill("Sam")
    card.get_by_role("button", name="Assign").click()
    page.locator(f"#exception-{ids['ops']} .assignee").filter(has_text="Sam").wait_for()

    # then resolve it
    page.locator(f"#exception-{ids['ops']}").get_by_role("button", name="Resolve").click()
    page.locator(f"#exception-{ids['ops']} .flash.ok").filter(has_text="Marked as resolved").wait_for()
    assert "resolved" in page.locator(f"#exception-{ids['ops']} header").inner_text()

    # Ops cannot act on Ecommerce's issue: no buttons, an explanation instead
    other = page.locator(f"#exception-{ids['ecommerce']}")
    assert other.get_by_role("button").count() == 0
    assert "you can see it but not act on it" in other.inner_text()

    with runtime.db.session() as s:
        record = s.get(IssueRecord, ids["ops"])
        assert record.state == "resolved" and record.resolved_by == "olive" and record.assignee == "Sam"
        rows = s.scalars(select(AuditLogEntry).where(AuditLogEntry.object_id == str(ids["ops"]))
                         .order_by(AuditLogEntry.id)).all()
        assert [(r.actor, r.action) for r in rows] == [("olive", "exception.assign"), ("olive", "exception.resolve")]

    # filtering by team swaps the list in place (htmx) and keeps the filter in the address bar
    page.get_by_label("Team").select_option("ecommerce")
    page.wait_for_url("**team=ecommerce**")
    page.locator(f"#exception-{ids['ops']}").wait_for(state="detached")
    assert page.locator(f"#exception-{ids['ecommerce']}").is_visible()

    # the audit log is visible in the console too
    page.get_by_role("link", name="Activity").click()
    assert page.locator("table.activity").get_by_text("exception.resolve").count() == 1


def test_every_page_reads_on_a_laptop_screen(page: Any, console: tuple[str, dict[str, int]]) -> None:
    base, _ = console
    _login(page, base)
    for path in ("/", "/exceptions", "/orders", "/stock", "/shipments", "/refunds", "/catalogue", "/audit",
                 "/carriers", "/rules", "/activity", "/guide", "/guide/ops"):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        # nothing wider than the 1366 px laptop viewport (no sideways scrolling)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, (path, width)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(base + "/login")
    page.goto(base + "/")
    assert "/login" in page.url
