"""Web hardening of issue 19 item 7: webhook dedup kept for days, bounded integer path parameters,
security headers, Secure cookies off loopback, LIKE search taken literally."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import text, update
from starlette.testclient import TestClient

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.stock import WebhookEvent
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.domain.issues import WORKFLOW_FAILED, IssueReport
from marketbridge.services import auth, webhooks
from marketbridge.services import issues as issue_service
from marketbridge.services.console import dashboard
from marketbridge.web.app import create_app
from tests.conftest import ON_POSTGRES

PASSWORD = "correct horse battery"
HUGE = "99999999999999999999"  # past a 64-bit integer
PAST_INT4 = str(2**31)  # past PostgreSQL's integer (int4) column


def _token(runtime, role: Role = Role.ADMIN, name: str = "ada") -> dict[str, str]:
    with runtime.db.session() as s:
        people = SqlPeopleRepository(s)
        token = auth.create_token(people, auth.create_user(people, name, role, PASSWORD))
        return {"Authorization": f"Bearer {token}"}


def _logged_in(client: TestClient, name: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token},
                       follow_redirects=False).status_code == 303
    return re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/").text).group(1)


# --- webhook de-duplication -------------------------------------------------------------------------


def test_a_replayed_webhook_is_recognised_for_days_even_after_its_body_was_purged(runtime):
    body = b'{"eventName":"observer.catalog_product_save_after","data":{"product":{"sku":"MB-1"}}}'
    window = runtime.settings.webhook_dedup_seconds
    assert window >= 7 * 86400
    with runtime.db.session() as s:
        first = webhooks.store_event(s, body, dedup_window_seconds=window)
    with runtime.db.session() as s:  # six days later, and the body purged for personal data
        s.execute(update(WebhookEvent).where(WebhookEvent.id == first.id)
                  .values(received_at=utcnow() - dt.timedelta(days=6), body=""))
    with runtime.db.session() as s:
        again = webhooks.store_event(s, body, dedup_window_seconds=window)
        assert again.duplicate and again.id == first.id
        assert s.query(WebhookEvent).count() == 1
    with runtime.db.session() as s:  # past the window it is a new delivery
        s.execute(update(WebhookEvent).values(received_at=utcnow() - dt.timedelta(seconds=window + 60)))
    with runtime.db.session() as s:
        assert not webhooks.store_event(s, body, dedup_window_seconds=window).duplicate
    assert webhooks.dedup_horizon(window, utcnow()) < utcnow() - dt.timedelta(days=6)


@pytest.mark.skipif(ON_POSTGRES, reason="the plan is read with SQLite's EXPLAIN QUERY PLAN")
def test_the_dedup_lookup_uses_its_index(runtime):
    with runtime.db.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT id FROM webhook_events WHERE dedup_key = 'k' AND received_at >= '2026-01-01' "
            "ORDER BY id DESC LIMIT 1")))
    assert "ix_webhook_events_dedup" in plan, plan


# --- integer path parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [HUGE, PAST_INT4, "0", "-1"])
def test_an_out_of_range_id_in_a_path_is_a_404_not_a_500(runtime, value):
    headers = _token(runtime)
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "olive", Role.OPS, PASSWORD)
    with TestClient(create_app(runtime, start_engine=False)) as client:
        for method, path in [("GET", f"/api/shipments/{value}"), ("GET", f"/api/audit/runs/{value}"),
                             ("GET", f"/api/audit/runs/{value}.csv"), ("DELETE", f"/api/rules/{value}"),
                             ("DELETE", f"/api/carriers/mappings/{value}"),
                             ("POST", f"/api/exceptions/{value}/actions")]:
            kwargs = {"json": {"action": "resolve"}} if method == "POST" else {}
            answer = client.request(method, path, headers=headers, **kwargs)
            assert answer.status_code == 404, (path, answer.status_code, answer.text)
        csrf = _logged_in(client, "olive")
        assert client.get(f"/exceptions/{value}").status_code == 404
        for path in (f"/carriers/{value}/delete", f"/exceptions/{value}/actions/resolve"):
            assert client.post(path, headers={"X-CSRF-Token": csrf}).status_code == 404, path
        # a query id or offset out of range is refused before any SQL runs
        assert client.get(f"/audit?run={value}").status_code == 422
        assert client.get(f"/api/orders?offset={HUGE}", headers=headers).status_code == 422


# --- security headers and cookies ------------------------------------------------------------------


def test_every_answer_carries_the_security_headers_and_data_is_never_cached(runtime):
    headers = _token(runtime)
    with TestClient(create_app(runtime, start_engine=False)) as client:
        answers = {"page": client.get("/login"), "api": client.get("/api/exceptions", headers=headers),
                   "refused": client.get("/api/exceptions"), "static": client.get("/static/console.css")}
        for name, answer in answers.items():
            csp = answer.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, name
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
            assert answer.headers.get("x-content-type-options") == "nosniff", name
            assert answer.headers.get("referrer-policy") == "no-referrer", name
            assert answer.headers.get("x-frame-options") == "DENY", name
            assert "strict-transport-security" not in answer.headers, name  # plain-http loopback
        for name in ("page", "api", "refused"):
            assert answers[name].headers.get("cache-control") == "no-store", name
        assert answers["static"].headers.get("cache-control") != "no-store"


def test_console_pages_have_no_inline_script_or_style_the_csp_would_block(runtime):
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "ada", Role.ADMIN, PASSWORD)
        issue_service.record(s, IssueReport(WORKFLOW_FAILED, "order:JL-1-A", "Importing JL-1-A stopped"))
    with TestClient(create_app(runtime, start_engine=False)) as client:
        _logged_in(client, "ada")
        for page in ("/", "/exceptions", "/exceptions/1", "/orders", "/stock", "/shipments", "/refunds",
                     "/catalogue", "/audit", "/carriers", "/rules", "/activity", "/guide", "/guide/ops", "/login"):
            html = client.get(page).text
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page
            assert "<style" not in html and not re.search(r"\sstyle=", html), page
            assert not re.search(r"\son[a-z]+=", html), page  # no inline event handlers


def test_cookies_are_secure_and_hsts_is_sent_off_loopback(runtime):
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "ada", Role.ADMIN, PASSWORD)
    runtime.settings = runtime.settings.model_copy(update={"web_host": "0.0.0.0"})  # nosec B104 - a test value
    with TestClient(create_app(runtime, start_engine=False), base_url="https://testserver") as client:
        page = client.get("/login")
        assert page.headers.get("strict-transport-security", "").startswith("max-age=")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        cookie = client.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": token},
                             follow_redirects=False).headers["set-cookie"]
        assert "; secure" in cookie.lower()


# --- LIKE search -------------------------------------------------------------------------------------


def test_search_wildcards_in_user_input_match_literally(runtime):
    from marketbridge.adapters.db.models.catalogue import Listing
    from marketbridge.adapters.db.models.orders import MarketplaceOrder
    from marketbridge.web.console_flow_pages import catalogue_data, orders_data

    now = utcnow()
    with runtime.db.session() as s:
        for object_id in ("order:JL_1-A", "order:JLX1-A", "order:100%-B", "order:1000-B"):
            issue_service.record(s, IssueReport(WORKFLOW_FAILED, object_id, f"{object_id} stopped"))
        for order_id in ("JL_2-A", "JLX2-A", "JL%3-A", "JLY3-A"):
            s.add(MarketplaceOrder(connection=runtime.settings.order_connection, order_id=order_id, state="created",
                                   marketplace_state="SHIPPING", marketplace_updated_at=now, marketplace_created_at=now,
                                   currency="GBP", total_price=1.0))
        for sku in ("MB_9", "MBX9", "MB%8", "MBZ8"):
            s.add(Listing(magento_sku=sku, offer_sku=sku, status="live", problems=[]))
    with runtime.db.session() as s:
        def issues(q):
            queries = runtime.console_store.on_session(s)
            return sorted(r.object_id for r in dashboard.list_issues(queries, state="all", search=q))

        assert issues("JL_1") == ["order:JL_1-A"]
        assert issues("100%") == ["order:100%-B"]
        assert issues("%") == ["order:100%-B"]
        assert issues("_") == ["order:JL_1-A"]
        orders = orders_data(s, runtime, state=None, q="JL_2")
        assert [o.order_id for o in orders["recent"]] == ["JL_2-A"]
        assert [o.order_id for o in orders_data(s, runtime, state=None, q="%")["recent"]] == ["JL%3-A"]
        listings = catalogue_data(s, runtime.catalogue_store, None, "MB_")
        assert sorted(r["magento_sku"] if isinstance(r, dict) else r.magento_sku for r in listings["rows"]) == ["MB_9"]
