"""The console over HTTP (TestClient on a migrated database): log-in, sessions, CSRF, roles, actions
on issues through pages and the JSON API, the audit log, /metrics, and that nothing answers an
anonymous request except health, log-in and signed webhooks."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import Mount
from starlette.testclient import TestClient

from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord, User
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.domain.issues import CONNECTION_FAILED, WORKFLOW_FAILED, IssueReport
from marketbridge.services import auth
from marketbridge.services import issues as issue_service
from marketbridge.web.app import create_app

PASSWORD = "correct horse battery"


PUBLIC_PATHS = {"/healthz", "/readyz", "/login"}


def _client(runtime, **kwargs) -> TestClient:
    return TestClient(create_app(runtime, start_engine=False), **kwargs)


ROLES = {"olive": Role.OPS, "eddie": Role.ECOMMERCE, "ada": Role.ADMIN}


def _seed(runtime, *users: str) -> dict[str, int]:
    """Two open issues (one Ops, one Ecommerce) and the named users (argon2 is slow on purpose)."""
    with runtime.db.session() as s:
        for name in users or ("olive",):
            auth.create_user(SqlPeopleRepository(s), name, ROLES[name], PASSWORD)
        ops = issue_service.record(s, IssueReport(WORKFLOW_FAILED, "order:JL-1-A", "Importing JL-1-A stopped"))
        eco = issue_service.record(s, IssueReport(CONNECTION_FAILED, "mirakl", "The marketplace key is refused"))
        return {"ops": ops.id, "ecommerce": eco.id}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, "page carries no CSRF token"
    return found.group(1)


def _login(client: TestClient, name: str, password: str = PASSWORD, next_path: str = "/"):
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": next_path},
                       follow_redirects=False)


def _state(runtime, record_id: int) -> IssueRecord:
    with runtime.db.session() as s:
        return s.get(IssueRecord, record_id)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _all_routes(app):
    """Every route with its full path (FastAPI 0.165 nests included routers lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: routes are already flat
        return [(r.path, getattr(r, "methods", None), r) for r in app.routes]
    return [(c.path, c.methods, c.original_route) for c in iter_route_contexts(app.routes)]


def test_nothing_but_health_login_and_signed_webhooks_answers_anonymously(runtime):
    app = create_app(runtime, start_engine=False)
    checked = 0
    with TestClient(app) as client:
        for path, methods, route in _all_routes(app):
            if isinstance(route, Mount) or path in PUBLIC_PATHS:
                continue
            if not isinstance(route, APIRoute) and path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
                continue  # FastAPI's own schema pages: they hold no data
            for method in sorted(methods or {"GET"}):
                if method in ("HEAD", "OPTIONS"):
                    continue
                response = client.request(method, _concrete(path), follow_redirects=False)
                checked += 1
                where = f"{method} {path}"
                if path.startswith("/api") or path == "/metrics":
                    assert response.status_code == 401, where
                elif "webhook" in path:
                    assert response.status_code in (400, 401, 403), where  # unsigned → refused
                elif method == "GET":
                    assert response.status_code == 303, where
                    assert response.headers["location"].startswith("/login"), where
                else:
                    assert response.status_code in (303, 401, 403), where
    assert checked >= 15


def test_pages_redirect_to_login_and_back(runtime):
    _seed(runtime)
    with _client(runtime) as client:
        first = client.get("/exceptions?team=ops", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=/exceptions%3Fteam%3Dops"
        assert _login(client, "olive", "wrong password", "/exceptions").status_code == 401
        ok = _login(client, "olive", PASSWORD, "/exceptions?team=ops")
        assert ok.status_code == 303 and ok.headers["location"] == "/exceptions?team=ops"
        page = client.get("/exceptions?team=ops")
        assert "Importing JL-1-A stopped" in page.text
        assert "The marketplace key is refused" not in page.text
        # htmx asks for the whole page to go to /login, not a redirected fragment
        client.cookies.clear()
        hx = client.get("/exceptions", headers={"HX-Request": "true"}, follow_redirects=False)
        assert hx.status_code == 401 and hx.headers["HX-Redirect"].startswith("/login")


def test_login_never_redirects_off_site(runtime):
    _seed(runtime)
    with _client(runtime) as client:
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            assert _login(client, "olive", PASSWORD, evil).headers["location"] == "/"
            client.cookies.clear()


def test_session_cookie_is_httponly_lax_and_secure_when_configured(runtime):
    _seed(runtime)
    with _client(runtime) as client:
        cookie = _login(client, "olive").headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()
    runtime.settings = runtime.settings.model_copy(update={"secure_cookies": True})
    with _client(runtime, base_url="https://testserver") as client:
        cookie = _login(client, "olive").headers["set-cookie"]
        assert "; secure" in cookie.lower()


def test_forms_need_the_csrf_token(runtime):
    ids = _seed(runtime)
    with _client(runtime) as client:
        assert _login(client, "olive").status_code == 303
        no_token = client.post(f"/exceptions/{ids['ops']}/actions/resolve", follow_redirects=False)
        assert no_token.status_code == 403
        wrong = client.post(f"/exceptions/{ids['ops']}/actions/resolve", data={"csrf_token": "forged"})
        assert wrong.status_code == 403
        assert _state(runtime, ids["ops"]).state == "open"
        token = _csrf(client.get("/exceptions").text)
        done = client.post(f"/exceptions/{ids['ops']}/actions/resolve", data={"csrf_token": token},
                           follow_redirects=False)
        assert done.status_code == 303
        assert _state(runtime, ids["ops"]).state == "resolved"
        # the log-in form is protected too (no log-in CSRF)
        client.cookies.clear()
        assert client.post("/login", data={"name": "olive", "password": PASSWORD}).status_code == 403


def test_each_role_acts_only_on_its_own_team_and_every_action_is_audited(runtime):
    ids = _seed(runtime, "olive", "ada")
    with _client(runtime) as client:
        _login(client, "olive")
        token = _csrf(client.get("/").text)
        headers = {"X-CSRF-Token": token, "HX-Request": "true"}
        refused = client.post(f"/exceptions/{ids['ecommerce']}/actions/resolve", headers=headers)
        assert "can look at it but not act on it" in refused.text
        assert _state(runtime, ids["ecommerce"]).state == "open"
        card = client.post(f"/exceptions/{ids['ops']}/actions/assign", headers=headers, data={"assignee": "Sam"})
        assert card.status_code == 200 and 'class="assignee">Sam<' in card.text
        client.post(f"/exceptions/{ids['ops']}/actions/acknowledge", headers=headers)
        assert _state(runtime, ids["ops"]).state == "acknowledged"
        assert "Sam" in client.get(f"/exceptions/{ids['ops']}").text
    with _client(runtime) as client:
        _login(client, "ada")
        token = _csrf(client.get("/").text)
        client.post(f"/exceptions/{ids['ecommerce']}/actions/ignore", headers={"X-CSRF-Token": token})
        assert _state(runtime, ids["ecommerce"]).state == "ignored"
        activity = client.get("/activity").text
        assert "exception.ignore" in activity and "exception.assign" in activity
    with runtime.db.session() as s:
        rows = s.scalars(select(AuditLogEntry).where(AuditLogEntry.action.like("exception.%"))).all()
        assert {(r.actor, r.action, r.object_id) for r in rows} == {
            ("olive", "exception.assign", str(ids["ops"])),
            ("olive", "exception.acknowledge", str(ids["ops"])),
            ("ada", "exception.ignore", str(ids["ecommerce"])),
        }
        assert all(r.at is not None for r in rows)
        assert s.scalars(select(AuditLogEntry).where(AuditLogEntry.action == "login")).all()


def test_json_api_action_uses_the_same_rules(runtime):
    ids = _seed(runtime)
    with runtime.db.session() as s:
        olive = s.scalars(select(User).where(User.name == "olive")).one()
        token = auth.create_token(SqlPeopleRepository(s), olive)
    bearer = {"Authorization": f"Bearer {token}"}
    with _client(runtime) as client:
        url = f"/api/exceptions/{ids['ops']}/actions"
        assert client.post(url, json={"action": "resolve"}).status_code == 401
        assert client.post(url, json={"action": "resolve", "extra": 1}, headers=bearer).status_code == 422
        forbidden = client.post(f"/api/exceptions/{ids['ecommerce']}/actions", json={"action": "resolve"}, headers=bearer)
        assert forbidden.status_code == 403
        assigned = client.post(url, json={"action": "assign", "assignee": "Sam"}, headers=bearer)
        assert assigned.status_code == 200 and assigned.json()["exception"]["assignee"] == "Sam"
        resolved = client.post(url, json={"action": "resolve"}, headers=bearer)
        assert resolved.json()["exception"]["state"] == "resolved"
        assert client.post(url, json={"action": "resolve"}, headers=bearer).status_code == 409
        assert client.post("/api/exceptions/999/actions", json={"action": "resolve"}, headers=bearer).status_code == 404
    with runtime.db.session() as s:
        actors = s.scalars(select(AuditLogEntry.actor).where(AuditLogEntry.object_id == str(ids["ops"]))).all()
        assert actors == ["olive", "olive"]


def test_a_deactivated_user_loses_the_session_at_once(runtime):
    _seed(runtime)
    with _client(runtime) as client:
        _login(client, "olive")
        assert client.get("/", follow_redirects=False).status_code == 200
        with runtime.db.session() as s:
            s.scalars(select(User).where(User.name == "olive")).one().active = False
        assert client.get("/", follow_redirects=False).status_code == 303


def test_metrics_need_a_token_and_report_open_issues_by_type_and_team(runtime):
    _seed(runtime, "ada")
    with runtime.db.session() as s:
        people = SqlPeopleRepository(s)
        token = auth.create_token(people, s.scalars(select(User).where(User.name == "ada")).one())
    with _client(runtime) as client:
        assert client.get("/metrics").status_code == 401
        body = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'marketbridge_exceptions_open{team="ops",type="workflow_failed"} 1.0' in body
    assert 'marketbridge_exceptions_open{team="ecommerce",type="connection_failed"} 1.0' in body


PAGES = ["/", "/exceptions", "/activity", "/guide", "/guide/ops", "/guide/finance", "/guide/ecommerce",
         "/guide/customer_service", "/orders", "/stock", "/shipments", "/refunds", "/catalogue", "/audit",
         "/carriers", "/rules"]


def test_every_page_renders_for_a_logged_in_user(runtime):
    ids = _seed(runtime, "eddie")
    with _client(runtime) as client:
        _login(client, "eddie")
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            assert "eddie" in response.text, path
        assert f'id="exception-{ids["ecommerce"]}"' in client.get("/exceptions").text
        assert client.get(f"/exceptions/{ids['ops']}").status_code == 200
        assert client.get("/exceptions/99999").status_code == 404
        assert client.get("/guide/nobody").status_code == 404


def test_repeated_failed_logins_are_throttled_per_name(runtime, monkeypatch):
    from marketbridge.web import console_auth

    monkeypatch.setattr(console_auth.login_throttle, "free_failures", 3)
    _seed(runtime)
    with _client(runtime) as client:
        assert [_login(client, "olive", "guess").status_code for _ in range(3)] == [401, 401, 401]
        assert _login(client, "olive", PASSWORD).status_code == 429  # even the right password waits
        assert _login(client, "ada", "guess").status_code == 401  # other names are not affected
    monkeypatch.setattr(console_auth.login_throttle, "base_delay", 0.0)  # the back-off has run out
    with _client(runtime) as client:
        assert _login(client, "olive", PASSWORD).status_code == 303
