"""The console under its Content-Security-Policy in a real browser: nothing it needs is blocked
(no CSP violation on any page, htmx still swaps), and what the policy is for is blocked (an
injected inline script does not run, the console will not render inside a frame)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.domain.issues import WORKFLOW_FAILED, IssueReport
from marketbridge.sandbox.server import serve_in_thread
from marketbridge.services import auth
from marketbridge.services import issues as issue_service
from marketbridge.web.app import create_app

PASSWORD = "a long enough passphrase"
PAGES = ("/", "/exceptions", "/orders", "/stock", "/shipments", "/refunds", "/catalogue", "/audit", "/carriers",
         "/rules", "/activity", "/guide", "/guide/ops")


@pytest.fixture
def console(runtime: Any) -> Iterator[tuple[str, int]]:
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "ada", Role.ADMIN, PASSWORD)
        record = issue_service.record(s, IssueReport(WORKFLOW_FAILED, "order:JL-7-A", "Importing JL-7-A stopped"))
        record_id = record.id
    server = serve_in_thread(create_app(runtime, start_engine=False))
    try:
        yield server.url, record_id
    finally:
        server.stop()


def test_the_console_works_under_its_csp_and_the_csp_blocks_injected_script(page: Any, console: Any) -> None:
    base, record_id = console
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(base + "/login")
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    for path in PAGES:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""), path
    # htmx (a static file) runs: assigning swaps the card in place
    page.goto(base + "/exceptions")
    card = page.locator(f"#exception-{record_id}")
    card.get_by_label("Assign to").fill("Sam")
    card.get_by_role("button", name="Assign").click()
    page.locator(f"#exception-{record_id} .assignee").filter(has_text="Sam").wait_for()
    assert problems == [], problems  # no CSP violation, no script error, on any page

    # an inline script that got into the page anyway does not run
    page.evaluate("""() => { const s = document.createElement('script');
                              s.textContent = 'window.__injected = 1'; document.head.appendChild(s); }""")
    assert page.evaluate("() => window.__injected") is None
    assert any("Content Security Policy" in p for p in problems), problems
