"""The hostile inputs issue 19 added (each failed on the code before its fix).

The two control tests (``test_every_integer...``, ``test_the_search_control...``) prove the checks
can see what they look for. Only HTTP-observable behaviour is checked, so the tests do not depend
on how the fixes are implemented.

* a session cookie signed with the old default secret cannot open a console that was started
  without ``MARKETBRIDGE_SESSION_SECRET`` (it must refuse to start, naming the variable);
* the JSON API enforces the console's roles: a token of a role the console refuses cannot change
  stock rules, carrier mappings or catalogue mappings, nor accept or refuse orders (403);
* a huge integer path id is a 404, not a 500;
* pages carry CSP with frame-ancestors, nosniff, Referrer-Policy, and ``Cache-Control: no-store``;
* ``%`` and ``_`` typed into a search match literally;
* the cookie and token of a deleted user are not accepted for a user created afterwards;
* a cookie replayed after log-out is refused (the session ends on the server);
* names typed into the log-in form are not shown to customer service on the activity page;
* a genuine webhook replayed a day later is not stored again (de-duplication kept for days).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import PASSWORD, Case, World, login, record, run_case, session_cookie
from tests.security.corpus import (
    COOKIE,
    GUARDED,
    Route,
    base_request,
    bearer,
    concrete_url,
    redirects_to_login,
)

OLD_DEFAULT_SECRET = "change-me-session-secret"


# --- the old default session secret ---------------------------------------------------------------------


def test_a_cookie_signed_with_the_old_default_secret_cannot_open_an_unconfigured_console(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings without ``MARKETBRIDGE_SESSION_SECRET``: either the service refuses to start with a
    message naming the variable, or (today) it starts and a cookie anyone can sign must be refused."""
    from starlette.testclient import TestClient

    from marketbridge.bootstrap import build_runtime
    from marketbridge.settings import load_settings
    from marketbridge.web.app import create_app

    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET", raising=False)
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET_FILE", raising=False)
    try:
        runtime = build_runtime(load_settings(database_url=world.runtime.settings.database_url))
        app = create_app(runtime, start_engine=False)
    except (Exception, SystemExit) as refusal:  # noqa: BLE001 - any refusal to start is the fix
        assert "MARKETBRIDGE_SESSION_SECRET" in str(refusal), f"refused to start without naming the variable: {refusal}"
        record("forged-session", True, False, "default-secret: refused to start")
        return
    try:
        forged = session_cookie({"uid": world.ids["users"]["ada"], "csrf": "forged"}, OLD_DEFAULT_SECRET)
        before = world.snapshot()
        with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
            page = client.get("/", headers={"Cookie": f"{COOKIE}={forged}"}, follow_redirects=False)
            delete = client.post(f"/rules/{world.ids['rule']}/delete", follow_redirects=False,
                                 headers={"Cookie": f"{COOKIE}={forged}", "X-CSRF-Token": "forged"})
        stored = world.snapshot() != before
        refused = page.status_code == 303 and delete.status_code in (303, 403)
        record("forged-session", refused, stored, f"default-secret: page {page.status_code}, "
                                                  f"delete {delete.status_code}, stored={stored}")
        assert refused and not stored, (page.status_code, delete.status_code, stored)
    finally:
        runtime.close()


# --- roles on the JSON API --------------------------------------------------------------------------------

CATALOGUE_AND_ORDERS = (
    ("PUT", "/api/catalogue/mappings/attributes/{attribute}"),
    ("DELETE", "/api/catalogue/mappings/attributes/{attribute}"),
    ("PUT", "/api/catalogue/mappings/categories/{magento_category:path}"),
    ("DELETE", "/api/catalogue/mappings/categories/{magento_category:path}"),
    ("POST", "/api/orders/{order_id}/accept"),
    ("POST", "/api/orders/{order_id}/refuse"),
)
STOCK_RULES = (("POST", "/api/rules"), ("DELETE", "/api/rules/{rule_id}"))
CARRIERS = (("POST", "/api/carriers/mappings"), ("DELETE", "/api/carriers/mappings/{mapping_id}"))
ROLE_CASES = (
    # who, the routes: the console already refuses these people the same changes
    *(("cass", r) for r in STOCK_RULES + CARRIERS + CATALOGUE_AND_ORDERS),   # customer service
    *(("fay", r) for r in STOCK_RULES + CARRIERS + CATALOGUE_AND_ORDERS),    # finance
    *(("olive", r) for r in STOCK_RULES),                                   # ops: rules are ecommerce's
    *(("eddie", r) for r in CARRIERS),                                      # ecommerce: carriers are ops'
)


def _role_case(who: str, method: str, path: str) -> Case:
    def build(world: World) -> dict[str, Any]:
        return base_request(world, Route(method, path, (), ()), headers=bearer(world, who))

    return Case(f"role:{who}:{method} {path}", "role", build, frozenset({403}))


@pytest.mark.parametrize(("who", "route"), ROLE_CASES, ids=[f"{w}:{m} {p}" for w, (m, p) in ROLE_CASES])
def test_a_lower_role_token_cannot_change_what_the_console_refuses_it(world: World, who: str,
                                                                     route: tuple[str, str]) -> None:
    run_case(world, _role_case(who, *route))


# --- huge integer ids -------------------------------------------------------------------------------------

HUGE = "99999999999999999999"
INT_ROUTES = [r for r in GUARDED if any(kind is int for _name, kind in r.path_params)]


def _huge_case(route: Route) -> Case:
    def build(world: World) -> dict[str, Any]:
        if route.kind == "api":
            headers = bearer(world)
        else:
            headers = {"Cookie": f"{COOKIE}={world.cookies['ada']}", "X-CSRF-Token": world.csrf["ada"]}
        request = base_request(world, route, headers=headers)
        name = next(n for n, kind in route.path_params if kind is int)
        request["url"] = concrete_url(world, route, (name, HUGE))
        return request

    return Case(f"huge-id:{route.method} {route.path}", "huge-id", build, frozenset({404}))


@pytest.mark.parametrize("route", INT_ROUTES, ids=[f"{r.method} {r.path}" for r in INT_ROUTES])
def test_a_huge_integer_id_is_a_404_not_a_500(world: World, route: Route) -> None:
    run_case(world, _huge_case(route))


def test_every_integer_path_parameter_is_covered() -> None:
    assert len(INT_ROUTES) >= 8


# --- security headers -------------------------------------------------------------------------------------

PAGES = sorted({r.path for r in GUARDED if r.kind == "page" and r.method == "GET" and "{" not in r.path})


@pytest.mark.parametrize("page", ["/login", *PAGES])
def test_pages_carry_the_security_headers(world: World, page: str) -> None:
    headers = {} if page == "/login" else {"Cookie": f"{COOKIE}={world.cookies['ada']}"}
    answer = world.client.get(page, headers=headers, follow_redirects=False)
    world.client.cookies.clear()
    assert answer.status_code == 200, (page, answer.status_code)
    csp = answer.headers.get("content-security-policy", "")
    assert csp, "no Content-Security-Policy"
    assert "frame-ancestors" in csp, f"CSP without frame-ancestors: {csp!r}"
    assert answer.headers.get("x-content-type-options", "").lower() == "nosniff"
    assert answer.headers.get("referrer-policy"), "no Referrer-Policy"
    if page != "/login":
        assert "no-store" in answer.headers.get("cache-control", ""), "a page with data may be cached"


# --- LIKE wildcards ---------------------------------------------------------------------------------------

WILDCARDS = ("%", "_", "%XSS%", "JL_XSS", "JL%", "order:JL_XSS_0")


def test_the_search_control_finds_the_seeded_records(world: World) -> None:
    """The wildcard cases below look for seeded object ids on the page: prove they show up."""
    answer = world.client.get("/exceptions", params={"q": "JL-XSS", "state": "all"},
                              headers={"Cookie": f"{COOKIE}={world.cookies['ada']}"})
    world.client.cookies.clear()
    assert "JL-XSS-0" in answer.text


def _wildcard_case(term: str) -> Case:
    def build(world: World) -> dict[str, Any]:
        return {"method": "GET", "url": "/exceptions", "params": {"q": term, "state": "all"},
                "headers": {"Cookie": f"{COOKIE}={world.cookies['ada']}"}}

    def literal(_world: World, answer: Any) -> list[str]:
        return [f"{term!r} matched as a wildcard"] if "JL-XSS-" in answer.text else []

    return Case(f"like-wildcard:/exceptions?q={term}", "like-wildcard", build, frozenset({200}), checks=(literal,))


@pytest.mark.parametrize("term", WILDCARDS)
def test_like_wildcards_in_search_match_literally(world: World, term: str) -> None:
    run_case(world, _wildcard_case(term))


# --- a deleted user's cookie and token ---------------------------------------------------------------------



def test_a_deleted_users_cookie_and_token_do_not_open_a_later_users_account(world: World) -> None:
    from sqlalchemy import delete

    from marketbridge.adapters.db.models.core import User
    from marketbridge.adapters.db.people import SqlPeopleRepository
    from marketbridge.domain.auth import Role
    from marketbridge.services import auth

    with world.runtime.db.session() as s:
        temp = auth.create_user(SqlPeopleRepository(s), "temp-leaver", Role.CUSTOMER_SERVICE, PASSWORD)
        old_token = auth.create_token(SqlPeopleRepository(s), temp, label="leaver")
    old_cookie, _csrf = login(world.client, "temp-leaver")
    with world.runtime.db.session() as s:
        s.execute(delete(User).where(User.name == "temp-leaver"))
    with world.runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "newcomer-admin", Role.ADMIN, PASSWORD)

    page = Case("deleted-user:cookie:GET /", "deleted-user", lambda w: {
        "method": "GET", "url": "/", "headers": {"Cookie": f"{COOKIE}={old_cookie}"}}, frozenset({303}),
        checks=(redirects_to_login,))
    api = Case("deleted-user:token:GET /api/exceptions", "deleted-user", lambda w: {
        "method": "GET", "url": "/api/exceptions", "headers": {"Authorization": f"Bearer {old_token}"}},
        frozenset({401}))
    problems = []
    for case in (page, api):
        try:
            run_case(world, case)
        except AssertionError as error:
            problems.append(str(error))
    assert not problems, problems


# --- log-out ends the session on the server ------------------------------------------------------------------


def test_a_cookie_replayed_after_log_out_is_refused(world: World) -> None:
    """A copy of the cookie (a shared computer, a proxy log) must die with the log-out (issue 19 item 3)."""
    cookie, csrf = login(world.client, "eddie")
    out = world.client.post("/logout", headers={"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf},
                            follow_redirects=False)
    world.client.cookies.clear()
    assert out.status_code == 303
    run_case(world, Case("stale-session:after-log-out:GET /", "stale-session", lambda w: {
        "method": "GET", "url": "/", "headers": {"Cookie": f"{COOKIE}={cookie}"}}, frozenset({303}),
        checks=(redirects_to_login,)))


# --- names typed into the log-in form -------------------------------------------------------------------------


def test_names_typed_into_the_log_in_form_are_not_shown_to_customer_service(world: World) -> None:
    """People type their e-mail address, or their password, into the name field; the activity page
    must not show those to every role (issue 19 item 6)."""
    typed = "jane.customer@example.com 07700900123"
    failed = world.client.post("/login", data={"name": typed, "password": "wrong password here",
                                               "csrf_token": world.anon_csrf},
                               headers={"Cookie": f"{COOKIE}={world.anon_cookie}"}, follow_redirects=False)
    world.client.cookies.clear()
    assert failed.status_code in (401, 429)

    def hidden(_world: World, answer: Any) -> list[str]:
        return ["a name typed into the log-in form is shown to customer service"] if typed in answer.text else []

    run_case(world, Case("pii:activity-as-customer-service", "pii-exposure", lambda w: {
        "method": "GET", "url": "/activity", "headers": {"Cookie": f"{COOKIE}={w.cookies['cass']}"}},
        frozenset({200, 403}), checks=(hidden,)))


# --- webhook replay after the old 10-minute window --------------------------------------------------------------


def test_a_webhook_replayed_a_day_later_is_not_stored_again(world: World) -> None:
    """De-duplication keys are kept for days, not 10 minutes (issue 19 item 7)."""
    import datetime as dt
    import json

    import time_machine

    from tests.conftest import settle_webhooks
    from tests.security.conftest import sign

    body = json.dumps({"eventName": "observer.cataloginventory_stock_item_save_commit_after",
                       "data": {"item": {"sku": "MB-000077"}}}).encode()
    headers = {"Content-Type": "application/json", "x-adobe-commerce-webhook-signature": sign(body)}
    assert world.client.post("/webhooks/adobe-commerce", content=body, headers=headers).status_code == 200
    settle_webhooks(world.client.app)  # the first delivery's hint is stored before the replay's snapshot
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=24)
    with time_machine.travel(later, tick=True):
        run_case(world, Case("webhook:replay-a-day-later", "webhook", lambda w: {
            "method": "POST", "url": "/webhooks/adobe-commerce", "content": body, "headers": headers},
            frozenset({200}), watch=("webhook_events", "stock_hints"), counted=("webhook_events", "stock_hints")))
