"""The role policy on the whole route table (issue 19 item 2).

Walks every route of the real app with a user of every role: a route with neither a policy
(``web.policy.requires``) nor a place in ``domain.auth.PUBLIC_ROUTES`` fails the test, and each
role must get ``403`` exactly where ``domain.auth.POLICY`` says. API routes are called with the
role's bearer token, console routes with the role's logged-in session (and its CSRF token).

Requests an allowed role makes must not change anything: writes carry a body no model accepts
(``422``) or name an id that does not exist (``404``).
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount
from starlette.testclient import TestClient

from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import POLICY, PUBLIC_ROUTES, READ_ACTIONS, Action, Role, allowed_roles
from marketbridge.services import auth
from marketbridge.web.app import create_app
from marketbridge.web.policy import policies_of
from tests.conftest import make_settings

PASSWORD = "correct horse battery"
MISSING = "999999"
PROBE_BODY = {"__policy_probe__": True}  # every request model forbids extra fields → 422


@pytest.fixture
def runtime(migrated_db_url, sandboxes):
    """Remote reads (carriers, refund reasons) answer from the sandboxes, quickly."""
    from marketbridge.bootstrap import build_runtime

    rt = build_runtime(make_settings(migrated_db_url, sandboxes))
    yield rt
    rt.close()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, "page carries no CSRF token"
    return found.group(1)


class Person:
    """One user of a role with a bearer token and a logged-in console session."""

    def __init__(self, app, runtime, role: Role) -> None:
        self.role = role
        self.name = f"user-{role.value}"
        with runtime.db.session() as s:
            user = auth.create_user(SqlPeopleRepository(s), self.name, role, PASSWORD)
            self.token = auth.create_token(SqlPeopleRepository(s), user)
        self.api = TestClient(app)
        self.browser = TestClient(app)
        self.log_in()

    def log_in(self) -> None:
        token = _csrf(self.browser.get("/login").text)
        answer = self.browser.post("/login", data={"name": self.name, "password": PASSWORD, "csrf_token": token},
                                   follow_redirects=False)
        assert answer.status_code == 303, answer.text
        self.csrf = _csrf(self.browser.get("/").text)

    def call(self, method: str, path: str, via: str):
        if via == "token":
            kwargs = {"json": PROBE_BODY} if method not in ("GET", "DELETE") else {}
            return self.api.request(method, path, headers={"Authorization": f"Bearer {self.token}"},
                                    follow_redirects=False, **kwargs)
        kwargs = {"data": {"csrf_token": self.csrf}} if method != "GET" else {}
        return self.browser.request(method, path, headers={"X-CSRF-Token": self.csrf}, follow_redirects=False,
                                    **kwargs)

    def close(self) -> None:
        self.api.close()
        self.browser.close()


def _routes(app):
    """``(path, methods, dependant or None, is_mount)`` for every route, included routers too."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        dependant = getattr(context, "dependant", None) or getattr(route, "dependant", None)
        yield context.path, sorted((context.methods or set()) - {"HEAD", "OPTIONS"}), dependant, \
            isinstance(route, Mount)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", MISSING, path)


def test_every_route_has_a_policy_and_each_role_is_refused_exactly_where_it_says(runtime):
    app = create_app(runtime, start_engine=False)
    people = [Person(app, runtime, role) for role in Role]
    unguarded, wrong, checked, public = [], [], 0, set()
    try:
        # log-out ends the session: call it last so the other console routes still have one
        routes = sorted(_routes(app), key=lambda r: r[0] == "/logout")
        for path, methods, dependant, is_mount in routes:
            if path in PUBLIC_ROUTES:
                public.add(path)
                continue
            policies = policies_of(dependant) if dependant is not None and not is_mount else set()
            if len(policies) != 1:
                unguarded.append(f"{methods} {path}: {sorted(policies) or 'no policy'}")
                continue
            ((action, via),) = policies
            for method in methods:
                if (method == "GET") != (action in READ_ACTIONS):
                    unguarded.append(f"{method} {path}: {action} (reads need READ, writes a write policy)")
                for person in people:
                    answer = person.call(method, _concrete(path), via)
                    checked += 1
                    allowed = person.role in allowed_roles(action)
                    refused = answer.status_code == 403
                    if allowed == refused or answer.status_code == 401 or answer.status_code >= 500 or \
                            answer.headers.get("location", "").startswith("/login?"):  # sent to log in
                        wrong.append(f"{person.role} {method} {path} ({action}): {answer.status_code}")
                    if action is Action.SIGN_OUT and allowed:
                        person.log_in()
    finally:
        for person in people:
            person.close()
    assert not unguarded, "routes without a policy:\n" + "\n".join(unguarded)
    assert not wrong, "403 not where the policy says:\n" + "\n".join(wrong)
    assert public == {"/webhooks/adobe-commerce", "/webhooks/adobe-commerce/{hook}", "/webhooks/adobe-io", "/healthz", "/readyz", "/login", "/static", "/openapi.json",
                      "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert checked >= 5 * 60, checked  # every role on every guarded route and method


def test_the_policy_names_every_action_and_every_team_owned_action_refuses_someone():
    assert set(POLICY) == set(Action)
    for action, owner in POLICY.items():
        roles = allowed_roles(action)
        assert Role.ADMIN in roles
        assert (roles == set(Role)) == (owner is None), action
        if owner is not None:
            assert roles == ({Role.ADMIN} if owner is Role.ADMIN else {Role.ADMIN, Role(owner.value)}), action
    assert allowed_roles(Action.MANAGE_ACCOUNTS) == {Role.ADMIN}
    assert allowed_roles(Action.DECIDE_ORDERS) == {Role.ADMIN, Role.OPS}
    assert allowed_roles(Action.EDIT_STOCK_RULES) == {Role.ADMIN, Role.ECOMMERCE}


def _person(runtime, role: Role) -> str:
    with runtime.db.session() as s:
        user = auth.create_user(SqlPeopleRepository(s), f"p-{role.value}", role, PASSWORD)
        return auth.create_token(SqlPeopleRepository(s), user)


def test_a_customer_service_token_cannot_delete_a_stock_rule_or_decide_an_order(runtime):
    from marketbridge.domain.stock import Kind, Scope
    from marketbridge.services.stock.rules import list_rules, put_rule

    with runtime.db.session() as s:
        rule = put_rule(s, Kind.STOCK, Scope.GLOBAL, "", {"buffer": 2}, actor="test")
    service = {"Authorization": f"Bearer {_person(runtime, Role.CUSTOMER_SERVICE)}"}
    finance = {"Authorization": f"Bearer {_person(runtime, Role.FINANCE)}"}
    ecommerce = {"Authorization": f"Bearer {_person(runtime, Role.ECOMMERCE)}"}
    with TestClient(create_app(runtime, start_engine=False)) as client:
        assert client.delete(f"/api/rules/{rule.id}", headers=service).status_code == 403
        assert client.delete(f"/api/rules/{rule.id}", headers=finance).status_code == 403
        assert client.post("/api/rules", headers=service, json={"kind": "stock", "scope": "global",
                                                                "params": {"buffer": 9}}).status_code == 403
        with runtime.db.session() as s:
            assert [r.id for r in list_rules(s)] == [rule.id]
        assert client.post("/api/orders/JL-NOPE-1/accept", headers=service).status_code == 403
        assert client.post("/api/orders/JL-NOPE-1/refuse", headers=ecommerce).status_code == 403
        assert client.post("/api/carriers/mappings", headers=finance,
                           json={"marketplace_code": "DPD", "title": "dpd"}).status_code == 403
        assert client.put("/api/catalogue/mappings/categories/shoes", headers=service,
                          json={"marketplace_category": "x"}).status_code == 403
        # the owning team may: the rule goes
        assert client.delete(f"/api/rules/{rule.id}", headers=ecommerce).status_code == 200
        with runtime.db.session() as s:
            assert list_rules(s) == []


# The console's buttons on an issue do the same things as these API routes; the team owning
# the issue type (who gets the button) must be the team the policy gives the route to.
FLOW_ACTION_POLICY = {
    "accept": Action.DECIDE_ORDERS,
    "refuse": Action.DECIDE_ORDERS,
    "map_carrier": Action.EDIT_CARRIER_MAPPINGS,
    "link_sku": Action.EDIT_CATALOGUE,
    "mirror": Action.ACT_ON_REFUNDS,
}
RETRY_POLICY = {"order_": Action.RETRY_ORDERS, "refund_": Action.ACT_ON_REFUNDS}


def test_console_issue_buttons_and_api_routes_give_a_change_to_the_same_team():
    from marketbridge.bootstrap import build_runtime
    from marketbridge.services.console import dashboard
    from tests.conftest import make_settings

    types = dashboard.issue_types()
    runtime = build_runtime(make_settings("sqlite://"))  # bootstrap registers the flow actions
    compared = 0
    for code, actions in runtime.flow_actions.items():
        for flow_action in actions:
            if flow_action.name == "retry":
                action = next((a for prefix, a in RETRY_POLICY.items() if code.startswith(prefix)), None)
            else:
                action = FLOW_ACTION_POLICY.get(flow_action.name)
            if action is None:
                continue  # no API route does it (workflow and shipment retries)
            assert POLICY[action] == types[code].owner, (code, flow_action.name, action)
            compared += 1
    runtime.close()
    assert compared >= 8
