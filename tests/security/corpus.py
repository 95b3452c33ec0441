"""The hostile-input corpus, as data: the app's real route table × payload lists → :class:`Case` objects.

The route table is read from an app built on a stand-in runtime (``create_app`` needs only the
settings to build its routes), so the cases can be generated at collection time; ``world`` checks
that the app under test has exactly the same routes. A route added later is covered automatically
by the anonymous, bad-token, CSRF and SQL-injection categories.

Categories (each case says which statuses count as *refused* and which tables must not change):

* ``anonymous``   every route but health, log-in and FastAPI's schema pages, with no credentials,
  a garbage cookie, an htmx request, and an anonymous session that carries its own valid CSRF token;
* ``bad-token``   every bearer-token route with missing, malformed, wrong-scheme, revoked, deleted
  user's, deactivated user's, very long, non-ASCII, truncated and case-changed tokens;
* ``forged-session`` session cookies naming the admin, signed with any secret but the configured
  one (the old default, empty, guessable, near misses), unsigned, with the signature stripped, and
  the genuine cookie of an admin deactivated since;
* ``csrf``        every unsafe console route, logged in as admin, with the CSRF token missing, wrong,
  from another session, in the query string, in a JSON or text/plain body;
* ``webhook``     bad or missing RSA signature, body changed after signing, replay, oversized, deeply
  nested, not JSON, wrong content type, wrong method;
* ``sqli``        SQL injection in every query parameter and every path parameter (GET, DELETE, POST
  actions) as admin, and in the constrained form fields (log-in, carriers, rules); refused means
  4xx, or a 200 answered exactly like an unmatched literal, never a database error;
* ``xss-stored``  script payloads stored in fields the console renders (issue messages, audit
  actors, carrier titles, rule notes) come back escaped, for an admin and a customer-service user;
* ``xss-reflected`` payloads in every page query parameter and in API path parameters are not
  reflected as markup;
* ``traversal``   ``..`` in its encoded forms against ``/static``, the guide and path parameters;
* ``header``      open redirect and CRLF in ``/login?next=``, Host / X-Forwarded-Host tricks, CRLF in
  a parameter that reaches a header.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

from markupsafe import escape

from tests.security.conftest import (
    OTHER_KEY,
    PASSWORD,
    SESSION_SECRET,
    WEBHOOK_LIMIT,
    XSS_PAYLOADS,
    Case,
    World,
    session_cookie,
    sign,
)

COOKIE = "marketbridge_session"
PUBLIC = frozenset({"/healthz", "/readyz", "/login"})
SCHEMA_PAGES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WEBHOOK_URL = "/webhooks/adobe-commerce"
STOCK_EVENT = "observer.cataloginventory_stock_item_save_commit_after"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: tuple[str, ...]
    path_params: tuple[tuple[str, type], ...]

    @property
    def kind(self) -> str:
        if self.path.startswith("/api/") or self.path == "/metrics":
            return "api"
        if self.path.startswith("/webhooks/"):
            return "webhook"
        return "page"


def route_table() -> list[Route]:
    """Every (method, route) of the real app, with its query and path parameters."""
    from fastapi.routing import APIRoute, iter_route_contexts

    from marketbridge.settings import load_settings
    from marketbridge.web.app import create_app

    app = create_app(SimpleNamespace(settings=load_settings(database_url="sqlite://",  # type: ignore[arg-type]
                                                            session_secret=SESSION_SECRET)),
                     start_engine=False)
    routes = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        query = tuple(p.alias for p in route.dependant.query_params)
        params = tuple((p.name, p.field_info.annotation) for p in route.dependant.path_params)
        for method in sorted(context.methods or ()):
            if method not in ("HEAD", "OPTIONS"):
                routes.append(Route(method, context.path, query, params))
    return routes


ROUTES = route_table()
GUARDED = [r for r in ROUTES if r.path not in PUBLIC and r.path not in SCHEMA_PAGES]


# --- valid requests: what a successful attack would look like ---------------------------------------

VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/rules"): {"json": {"kind": "stock", "scope": "global", "params": {"buffer": 9}}},
    ("POST", "/api/carriers/mappings"): {"json": {"marketplace_code": "DPD", "magento_carrier_code": "evil"}},
    ("PUT", "/api/catalogue/mappings/attributes/{attribute}"): {"json": {"source": "evil"}},
    ("PUT", "/api/catalogue/mappings/categories/{magento_category:path}"): {"json": {"marketplace_category": "evil"}},
    ("PUT", "/api/catalogue/rules/{sku:path}"): {"json": {"action": "publish_as_simple", "note": "evil"}},
    ("POST", "/api/skus/links"): {"json": {"offer_sku": "OFFER-EVIL", "magento_sku": "MB-000002"}},
    ("POST", "/api/catalogue/publish"): {"json": {"skus": ["MB-000001"]}},
    ("POST", "/api/audit/runs"): {"json": {"fix": True}},
    ("POST", "/api/exceptions/{record_id}/actions"): {"json": {"action": "resolve"}},
    ("POST", "/carriers"): {"data": {"marketplace_code": "DPD", "magento_carrier_code": "evil"}},
    ("POST", "/rules"): {"data": {"kind": "stock", "scope": "global", "buffer": "9"}},
    ("POST", "/exceptions/{record_id}/actions/{action}"): {"data": {"note": "evil"}},
}


def param_value(world: World, route: Route, name: str) -> str:
    """A real target for each path parameter (the seeded rows a bypass would change)."""
    ids = world.ids
    if name == "rule_id":
        return str(ids["rule"])
    if name == "mapping_id":
        return str(ids["carrier_mapping"])
    if name == "record_id":
        return str(ids["exception"])
    return {
        "sku": "MB-000001", "order_id": "JL-0001-A", "shipment_id": "1", "key": "refund-1", "refund_id": "1",
        "attribute": "colour", "magento_category": "Default/Shoes", "offer_sku": "OFFER-SEEDED", "run_id": "1",
        "action": "acknowledge", "team": "ops",
        "hook": "plugin.magento.inventory_api.api.source_items_save.execute",
    }.get(name, "1")


def concrete_url(world: World, route: Route, override: tuple[str, str] | None = None) -> str:
    """The route's path with every ``{param}`` filled in (``override``: one raw, pre-encoded value)."""
    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if override and override[0] == name:
            return override[1]
        return quote(param_value(world, route, name), safe="/")

    return re.sub(r"\{([^}]+)\}", fill, route.path)


def base_request(world: World, route: Route, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"method": route.method, "url": concrete_url(world, route)}
    request.update(VALID_BODIES.get((route.method, route.path), {}))
    request.update(extra)
    return request


def admin_cookie(world: World, extra: dict[str, str] | None = None, who: str = "ada") -> dict[str, str]:
    headers = {"Cookie": f"{COOKIE}={world.cookies[who]}"}
    headers.update(extra or {})
    return headers


def bearer(world: World, who: str = "ada") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


# --- checks -------------------------------------------------------------------------------------------

DB_ERROR_MARKERS = ("sqlite3.", "OperationalError", "ProgrammingError", "psycopg", "syntax error",
                    "Traceback", "sqlalchemy", "SQLSTATE")
LEAK_MARKERS = ("root:x:0", "def create_app", "[project]", "BEGIN PRIVATE", "import ", "SESSION_SECRET")


def no_db_error(_world: World, response: Any) -> list[str]:
    body = response.text
    return [f"answer shows a database error ({m})" for m in DB_ERROR_MARKERS if m.lower() in body.lower()]


def no_leak(_world: World, response: Any) -> list[str]:
    return [f"answer leaks file content ({m!r})" for m in LEAK_MARKERS if m in response.text]


def redirects_to_login(_world: World, response: Any) -> list[str]:
    location = response.headers.get("location") or response.headers.get("hx-redirect") or ""
    return [] if location.startswith("/login") else [f"not sent to /login (location {location!r})"]


def local_location(_world: World, response: Any) -> list[str]:
    """The redirect stays on this site and cannot split the header."""
    location = response.headers.get("location", "")
    problems = []
    if any(c in location for c in "\r\n\t\x00"):
        problems.append(f"control character in Location {location!r}")
    parts = urlsplit(location)
    if parts.scheme or parts.netloc or not location.startswith("/") or location[1:2] in ("/", "\\"):
        problems.append(f"Location leaves the site: {location!r}")
    if "mb-injected" in {k.lower() for k in response.headers} or "mb_injected" in response.headers.get("set-cookie", ""):
        problems.append("a header was injected")
    return problems


def no_injected_header(_world: World, response: Any) -> list[str]:
    names = {k.lower() for k in response.headers}
    cookie = response.headers.get("set-cookie", "")
    return ["a header was injected"] if "mb-injected" in names or "mb_injected" in cookie else []


def no_foreign_host(_world: World, response: Any) -> list[str]:
    location = response.headers.get("location", "")
    problems = [f"Location built from the Host header: {location!r}"] if "evil" in location else []
    if response.headers.get("content-type", "").startswith("text/html") and "evil.example" in response.text:
        problems.append("page links to the forged host")
    return problems


def not_reflected(payload: str) -> Any:
    def check(_world: World, response: Any) -> list[str]:
        if response.headers.get("content-type", "").startswith("text/html") and payload in response.text:
            return [f"payload reflected unescaped: {payload!r}"]
        return []
    return check


def json_not_html(_world: World, response: Any) -> list[str]:
    kind = response.headers.get("content-type", "")
    return [] if not kind.startswith("text/html") else [f"API error answered as HTML ({kind})"]


def escaped_in_page(payload: str, must_appear: bool) -> Any:
    """The stored payload is on the page, escaped (a 403 page, for a role that may not see it, shows
    nothing, which is fine too)."""
    def check(_world: World, response: Any) -> list[str]:
        problems = []
        if payload in response.text:
            problems.append(f"stored payload rendered unescaped: {payload!r}")
        if must_appear and response.status_code == 200 and str(escape(payload)) not in response.text:
            problems.append(f"stored payload not on the page at all (the check would prove nothing): {payload!r}")
        return problems
    return check


# --- anonymous ------------------------------------------------------------------------------------------

ANON_VARIANTS = ("none", "garbage-cookie", "htmx", "anon-session-with-csrf")


def anonymous_cases() -> list[Case]:
    cases = []
    for route in GUARDED:
        for variant in ANON_VARIANTS:
            def build(world: World, route: Route = route, variant: str = variant) -> dict[str, Any]:
                headers: dict[str, str] = {}
                if variant == "garbage-cookie":
                    headers["Cookie"] = f"{COOKIE}=eyJ1aWQiOiAxfQ==.garbage.signature"
                elif variant == "htmx":
                    headers["HX-Request"] = "true"
                elif variant == "anon-session-with-csrf":
                    headers["Cookie"] = f"{COOKIE}={world.anon_cookie}"
                    headers["X-CSRF-Token"] = world.anon_csrf
                return base_request(world, route, headers=headers)

            checks: tuple[Any, ...] = ()
            if (route.method, route.path) == ("GET", "/webhooks/adobe-io"):
                # Adobe I/O Events' challenge handshake is unsigned by design (the registration's
                # GET carries none); it only echoes ``?challenge=``, and without one answers 400
                expect = frozenset({400})
            elif route.kind in ("api", "webhook"):
                expect = frozenset({401})
            elif route.method == "GET":
                expect = frozenset({401 if variant == "htmx" else 303})
                checks = (redirects_to_login,)
            else:
                expect = frozenset({303, 401, 403})
            cases.append(Case(f"anonymous:{variant}:{route.method} {route.path}", "anonymous", build, expect,
                              checks=checks))
    return cases


# --- bad tokens -----------------------------------------------------------------------------------------


def _token_variants(world: World) -> dict[str, str | bytes]:
    good = world.tokens["ada"]
    return {
        "bearer-without-value": "Bearer",
        "bearer-blank": "Bearer     ",
        "malformed": "Bearer mb_!!not*a*token==",
        "wrong-scheme-basic": f"Basic {good}",
        "wrong-scheme-token": f"Token {good}",
        "no-scheme": good,
        "revoked": f"Bearer {world.revoked_token}",
        "deleted-user": f"Bearer {world.deleted_token}",
        "deactivated-user": f"Bearer {world.deactivated_token}",
        "very-long": "Bearer mb_" + "A" * 16_000,
        "non-ascii": "Bearer mb_tökén-ünïcødé-✓".encode(),
        "truncated": f"Bearer {good[:-1]}",
        "case-changed": f"Bearer {good.swapcase()}",
    }


TOKEN_VARIANTS = ("bearer-without-value", "bearer-blank", "malformed", "wrong-scheme-basic", "wrong-scheme-token",
                  "no-scheme", "revoked", "deleted-user", "deactivated-user", "very-long", "non-ascii", "truncated", "case-changed")


def bad_token_cases() -> list[Case]:
    cases = []
    for route in (r for r in GUARDED if r.kind == "api"):
        for variant in TOKEN_VARIANTS:
            def build(world: World, route: Route = route, variant: str = variant) -> dict[str, Any]:
                return base_request(world, route, headers={"Authorization": _token_variants(world)[variant]})

            cases.append(Case(f"bad-token:{variant}:{route.method} {route.path}", "bad-token", build,
                              frozenset({401}), checks=(json_not_html,)))
    return cases


# --- CSRF -----------------------------------------------------------------------------------------------

CSRF_VARIANTS = ("missing", "wrong", "other-session-field", "other-session-header", "anonymous-session-token",
                 "in-query-string", "in-json-body", "in-text-plain-body", "empty-header", "no-cookie-valid-token")


def csrf_cases() -> list[Case]:
    cases = []
    for route in (r for r in GUARDED if r.kind == "page" and r.method in UNSAFE):
        for variant in CSRF_VARIANTS:
            def build(world: World, route: Route = route, variant: str = variant) -> dict[str, Any]:
                request = base_request(world, route)
                form = dict(request.pop("data", {}))
                mine, theirs = world.csrf["ada"], world.csrf["olive"]
                headers = admin_cookie(world)
                if variant == "wrong":
                    form["csrf_token"] = "x" * len(mine)
                elif variant == "other-session-field":
                    form["csrf_token"] = theirs
                elif variant == "other-session-header":
                    headers["X-CSRF-Token"] = theirs
                elif variant == "anonymous-session-token":
                    form["csrf_token"] = world.anon_csrf
                elif variant == "in-query-string":
                    request["url"] += f"?csrf_token={mine}"
                elif variant == "in-json-body":
                    request["json"] = {**form, "csrf_token": mine}
                    form = {}
                elif variant == "in-text-plain-body":
                    request["content"] = f"csrf_token={mine}"
                    headers["Content-Type"] = "text/plain"
                    form = {}
                elif variant == "empty-header":
                    headers["X-CSRF-Token"] = ""
                elif variant == "no-cookie-valid-token":
                    headers = {"X-CSRF-Token": mine}
                if form:
                    request["data"] = form
                request["headers"] = headers
                return request

            expect = frozenset({303, 401, 403}) if variant == "no-cookie-valid-token" else frozenset({403})
            cases.append(Case(f"csrf:{variant}:{route.method} {route.path}", "csrf", build, expect))
    # log-in CSRF: a page of another site logs the victim in as the attacker (right password, wrong token)
    for variant in ("missing", "wrong", "another-sessions-token", "in-query-string"):
        def build_login(world: World, variant: str = variant) -> dict[str, Any]:
            form = {"name": "eddie", "password": PASSWORD}
            url = "/login"
            if variant == "wrong":
                form["csrf_token"] = "x" * len(world.anon_csrf)
            elif variant == "another-sessions-token":
                form["csrf_token"] = world.csrf["olive"]
            elif variant == "in-query-string":
                url += f"?csrf_token={world.anon_csrf}"
            return {"method": "POST", "url": url, "data": form, "headers": {"Cookie": f"{COOKIE}={world.anon_cookie}"}}

        cases.append(Case(f"csrf:login:{variant}", "csrf", build_login, frozenset({403})))
    return cases


# --- forged session cookies ------------------------------------------------------------------------------

FORGING_SECRETS = {
    "old-default-secret": "change-me-session-secret",
    "empty-secret": "",
    "guessable-secret": "secret",
    "the-password": PASSWORD,
    "configured-secret-minus-one-char": SESSION_SECRET[:-1],
    "configured-secret-plus-one-char": SESSION_SECRET + "x",
    "configured-secret-other-case": SESSION_SECRET.swapcase(),
}
FORGED_TARGETS = (("GET", "/"), ("GET", "/activity"), ("GET", "/rules"),
                  ("POST", "/rules/{rule_id}/delete"), ("POST", "/carriers"), ("POST", "/logout"))


def forged_session_cases() -> list[Case]:
    """Cookies naming the admin as the user, with a CSRF token of the attacker's choosing, signed
    with any secret but the configured one (plus one unsigned, one with a stripped signature, and the
    genuine cookie of an admin who was deactivated after logging in)."""
    cases = []
    variants = [*FORGING_SECRETS, "unsigned", "signature-stripped", "deactivated-admins-real-cookie"]
    for variant in variants:
        for method, path in FORGED_TARGETS:
            def build(world: World, variant: str = variant, method: str = method, path: str = path) -> dict[str, Any]:
                data = {"uid": world.ids["users"]["ada"], "csrf": "forged-csrf-token"}
                if variant == "deactivated-admins-real-cookie":
                    cookie = world.deactivated_cookie
                elif variant == "unsigned":
                    import base64
                    cookie = base64.b64encode(json.dumps(data).encode()).decode()
                elif variant == "signature-stripped":
                    cookie = session_cookie(data, SESSION_SECRET).rsplit(".", 1)[0] + "."
                else:
                    cookie = session_cookie(data, FORGING_SECRETS[variant])
                route = Route(method, path, (), ())
                return base_request(world, route, headers={"Cookie": f"{COOKIE}={cookie}",
                                                           "X-CSRF-Token": "forged-csrf-token"})

            expect = frozenset({303}) if method == "GET" else frozenset({303, 403})
            checks = (redirects_to_login,) if method == "GET" else ()
            cases.append(Case(f"forged-session:{variant}:{method} {path}", "forged-session", build, expect,
                              checks=checks))
    return cases


# --- webhooks -------------------------------------------------------------------------------------------


def _event(sku: str = "MB-000001", **extra: Any) -> bytes:
    return json.dumps({"eventName": STOCK_EVENT, "data": {"item": {"sku": sku, **extra}}}).encode()


def _nested(depth: int) -> bytes:
    return b'{"eventName": "' + STOCK_EVENT.encode() + b'", "data": ' + b"[" * depth + b"]" * depth + b"}"


def _hook(body: bytes, signature: str | None, content_type: str = "application/json",
          method: str = "POST", **headers: str) -> dict[str, Any]:
    sent = {"Content-Type": content_type, **headers}
    if signature is not None:
        sent["x-adobe-commerce-webhook-signature"] = signature
    return {"method": method, "url": WEBHOOK_URL, "content": body, "headers": sent}


def _chunks(body: bytes) -> Any:
    for start in range(0, len(body), 8192):
        yield body[start:start + 8192]


def webhook_cases() -> list[Case]:
    import base64

    body = _event()
    huge = _event("MB-000002", padding="y" * (WEBHOOK_LIMIT + 10))
    specs: list[tuple[str, Any, frozenset[int]]] = [
        ("unsigned", lambda w: _hook(body, None), frozenset({401})),
        ("empty-signature", lambda w: _hook(body, ""), frozenset({401})),
        ("garbage-signature", lambda w: _hook(body, "not base64 at all!!"), frozenset({401})),
        ("well-formed-wrong-bytes", lambda w: _hook(body, base64.b64encode(b"x" * 256).decode()), frozenset({401})),
        ("another-key", lambda w: _hook(body, sign(body, OTHER_KEY)), frozenset({401})),
        ("raw-body-signed-not-base64", lambda w: _hook(body, base64.b64encode(
            OTHER_KEY.sign(body, *_pkcs())).decode()), frozenset({401})),
        ("body-appended-after-signing", lambda w: _hook(body + b" ", sign(body)), frozenset({401})),
        ("sku-changed-after-signing", lambda w: _hook(_event("MB-000099"), sign(body)), frozenset({401})),
        ("bom-prepended-after-signing", lambda w: _hook(b"\xef\xbb\xbf" + body, sign(body)), frozenset({401})),
        ("signature-of-another-event", lambda w: _hook(body, sign(w.replay_body)), frozenset({401})),
        ("signature-with-trailing-junk", lambda w: _hook(body, sign(body) + "A" * 10_000), frozenset({401})),
        ("replay-of-a-delivered-event", lambda w: _hook(w.replay_body, sign(w.replay_body)), frozenset({200})),
        ("replay-with-other-content-type", lambda w: _hook(w.replay_body, sign(w.replay_body), "text/plain"),
         frozenset({200})),
        ("oversized-declared", lambda w: _hook(huge, sign(huge)), frozenset({413})),
        ("oversized-streamed", lambda w: {**_hook(b"", sign(huge)), "content": _chunks(huge)}, frozenset({413})),
        ("deeply-nested-signed", lambda w: _hook(_nested(5_000), sign(_nested(5_000))), frozenset({400})),
        ("not-json-signed", lambda w: _hook(b"eventName=x&data=y", sign(b"eventName=x&data=y")), frozenset({400})),
        ("not-utf8-signed", lambda w: _hook(b"\xff\xfe{\x00", sign(b"\xff\xfe{\x00")), frozenset({400})),
        ("form-content-type-unsigned", lambda w: _hook(b"eventName=x", None, "application/x-www-form-urlencoded"),
         frozenset({401})),
        ("text-plain-bad-signature", lambda w: _hook(body, "AAAA", "text/plain"), frozenset({401})),
        ("multipart-unsigned", lambda w: {"method": "POST", "url": WEBHOOK_URL,
                                          "files": {"f": ("e.json", body, "application/json")}}, frozenset({401})),
        ("get-method", lambda w: {"method": "GET", "url": WEBHOOK_URL}, frozenset({405})),
        ("put-method", lambda w: _hook(body, sign(body), method="PUT"), frozenset({405})),
    ]
    replays = {"replay-of-a-delivered-event", "replay-with-other-content-type"}
    return [Case(f"webhook:{name}", "webhook", build, expect, checks=(no_db_error,),
                 counted=("webhook_events", "stock_hints") if name in replays else ())
            for name, build, expect in specs]


def _pkcs() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


# --- SQL injection ----------------------------------------------------------------------------------------

SQLI = (
    "' OR '1'='1",
    "1 OR 1=1",
    "1; DROP TABLE users; --",
    "' UNION SELECT name, password_hash FROM users --",
    "%' OR 1=1 --",
    "'; SELECT pg_sleep(3); --",
    "1' AND (SELECT COUNT(*) FROM sqlite_master) > 0 --",
)
NO_MATCH = "zz-no-such-value"


SEEDED_MARKERS = ("JL-XSS-", "MB-XSS-", "OFFER-SEEDED", "Default/Shoes", "JL-0001-A", "xss0")
"""Strings only seeded rows put on a page: an injection that widens a query makes them appear."""


def same_as_unmatched(route: Route, name: str, auth: str) -> Any:
    """The payload must be answered like an ordinary unmatched value of the same parameter: a JSON
    list of the same length, a page showing no seeded row the unmatched value does not show."""
    def check(world: World, response: Any) -> list[str]:
        if response.status_code != 200:
            return []
        baseline = world.client.request(route.method, concrete_url(world, route), params={name: NO_MATCH},
                                        headers=bearer(world) if auth == "token" else admin_cookie(world),
                                        follow_redirects=False)
        world.client.cookies.clear()
        if baseline.status_code != 200:
            return []
        if response.headers.get("content-type", "").startswith("application/json"):
            answer, expected = response.json(), baseline.json()
            if isinstance(answer, list) and isinstance(expected, list) and len(answer) != len(expected):
                return [f"injection returned {len(answer)} rows, an unmatched value {len(expected)}"]
            return []
        extra = [m for m in SEEDED_MARKERS if m in response.text and m not in baseline.text]
        return [f"injection showed rows an unmatched value does not: {extra}"] if extra else []
    return check


def sqli_cases() -> list[Case]:
    cases = []
    for route in GUARDED:
        if route.kind == "webhook":
            continue
        auth = "token" if route.kind == "api" else "cookie"

        def headers_for(world: World, auth: str = auth) -> dict[str, str]:
            if auth == "token":
                return bearer(world)
            return admin_cookie(world, {"X-CSRF-Token": world.csrf["ada"]})

        for name in route.query if route.method == "GET" else ():
            for i, payload in enumerate(SQLI):
                def build(world: World, route: Route = route, name: str = name, payload: str = payload,
                          headers_for: Any = headers_for) -> dict[str, Any]:
                    return base_request(world, route, params={name: payload}, headers=headers_for(world))

                cases.append(Case(f"sqli:query:{route.method} {route.path}?{name}#{i}", "sqli", build,
                                  frozenset({200, 400, 404, 422}),
                                  checks=(no_db_error, same_as_unmatched(route, name, auth))))
        if route.method == "PUT":
            continue  # a PUT with a valid body stores its path value as a literal: that is its job
        for name, _kind in route.path_params:
            for i, payload in enumerate(SQLI):
                def build(world: World, route: Route = route, name: str = name, payload: str = payload,
                          headers_for: Any = headers_for) -> dict[str, Any]:
                    request = base_request(world, route, headers=headers_for(world))
                    request["url"] = concrete_url(world, route, (name, quote(payload, safe="")))
                    return request

                expect = frozenset({200, 404, 422}) if route.method == "GET" else frozenset({400, 403, 404, 409, 422})
                cases.append(Case(f"sqli:path:{route.method} {route.path}:{name}#{i}", "sqli", build, expect,
                                  checks=(no_db_error,)))
    for field in ("name", "password"):
        for i, payload in enumerate(SQLI):
            def build(world: World, field: str = field, payload: str = payload) -> dict[str, Any]:
                form = {"name": "ada", "password": "wrong password here", "csrf_token": world.anon_csrf}
                form[field] = payload
                return {"method": "POST", "url": "/login", "data": form,
                        "headers": {"Cookie": f"{COOKIE}={world.anon_cookie}"}}

            # A failed log-in is audited by design (who tried which name); it must create no user or token.
            cases.append(Case(f"sqli:form:POST /login:{field}#{i}", "sqli", build, frozenset({401, 429}),
                              watch=("users", "api_tokens"), checks=(no_db_error,)))
    form_targets = [("/carriers", "marketplace_code"), ("/rules", "kind"), ("/rules", "scope"), ("/rules", "buffer")]
    for path, field in form_targets:
        for i, payload in enumerate(SQLI):
            def build(world: World, path: str = path, field: str = field, payload: str = payload) -> dict[str, Any]:
                form = dict(VALID_BODIES[("POST", path)]["data"])
                form[field] = payload
                form["csrf_token"] = world.csrf["ada"]
                return {"method": "POST", "url": path, "data": form, "headers": admin_cookie(world)}

            cases.append(Case(f"sqli:form:POST {path}:{field}#{i}", "sqli", build, frozenset({400, 422}),
                              checks=(no_db_error,)))
    return cases


# --- XSS --------------------------------------------------------------------------------------------------

STORED_PAGES: dict[str, str] = {
    # page -> which seeded field it shows ("exception": messages, "actor": audit actors, ...)
    "/exceptions?state=all": "exception",
    "/": "exception",
    "/activity": "actor",
    "/carriers": "carrier",
    "/rules": "rule",
}


def xss_cases() -> list[Case]:
    cases = []
    # the admin sees every page; customer service may be refused a page by a later role policy
    seen_by = {"ada": frozenset({200}), "cass": frozenset({200, 403})}
    for who in ("ada", "cass"):
        for page in STORED_PAGES:
            for i, payload in enumerate(XSS_PAYLOADS):
                def build(world: World, page: str = page, who: str = who) -> dict[str, Any]:
                    return {"method": "GET", "url": page, "headers": admin_cookie(world, who=who)}

                cases.append(Case(f"xss-stored:{who}:{page}#{i}", "xss-stored", build, seen_by[who],
                                  checks=(escaped_in_page(payload, True),)))
            # each stored issue's own page
        for i, payload in enumerate(XSS_PAYLOADS):
            def build(world: World, i: int = i, who: str = who) -> dict[str, Any]:
                return {"method": "GET", "url": f"/exceptions/{world.ids['xss_exceptions'][i]}",
                        "headers": admin_cookie(world, who=who)}

            cases.append(Case(f"xss-stored:{who}:/exceptions/{{id}}#{i}", "xss-stored", build, seen_by[who],
                              checks=(escaped_in_page(payload, True),)))
    for route in (r for r in GUARDED if r.kind == "page" and r.method == "GET"):
        for name in route.query:
            for i, payload in enumerate(XSS_PAYLOADS):
                def build(world: World, route: Route = route, name: str = name, payload: str = payload) -> dict[str, Any]:
                    return base_request(world, route, params={name: payload}, headers=admin_cookie(world))

                cases.append(Case(f"xss-reflected:{route.path}?{name}#{i}", "xss-reflected", build,
                                  frozenset({200, 404, 422}), checks=(not_reflected(payload),)))
    for i, payload in enumerate(XSS_PAYLOADS):
        def build_login(world: World, payload: str = payload) -> dict[str, Any]:
            return {"method": "GET", "url": "/login", "params": {"next": "/" + payload}}

        cases.append(Case(f"xss-reflected:/login?next#{i}", "xss-reflected", build_login, frozenset({200}),
                          checks=(not_reflected(payload),)))
        for api_path in ("/api/stock/", "/api/orders/", "/api/skus/links/"):
            method = "DELETE" if api_path == "/api/skus/links/" else "GET"

            def build_api(world: World, api_path: str = api_path, payload: str = payload,
                          method: str = method) -> dict[str, Any]:
                return {"method": method, "url": api_path + quote(payload, safe=""), "headers": bearer(world)}

            cases.append(Case(f"xss-reflected:{method} {api_path}{{payload}}#{i}", "xss-reflected", build_api,
                              frozenset({404, 422}), checks=(json_not_html, not_reflected(payload))))
    return cases


# --- path traversal -----------------------------------------------------------------------------------------

STATIC_TRAVERSALS = (
    "/static/..%2f..%2fsettings.py",
    "/static/%2e%2e/%2e%2e/settings.py",
    "/static/%2e%2e%2f%2e%2e%2fapp.py",
    "/static/..%5c..%5capp.py",
    "/static/%252e%252e/%252e%252e/settings.py",
    "/static/....//....//settings.py",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/console.css%00.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/..;/app.py",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/settings.py",
    "/static/templates/console/base.html",
    "/static/../pyproject.toml",
)
ROUTE_TRAVERSALS = (
    ("cookie", "GET", "/guide/..%2f..%2f..%2fsettings"),
    ("cookie", "GET", "/guide/%2e%2e%2f%2e%2e%2fconsole_guide"),
    ("cookie", "GET", "/guide/..%5c..%5cREADME"),
    ("token", "GET", "/api/stock/..%2f..%2f..%2f..%2fetc%2fpasswd"),
    ("token", "GET", "/api/stock/history/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),  # an empty history: 200 []
    ("token", "GET", "/api/catalogue/listings/..%2f..%2f..%2fetc%2fpasswd"),
    ("token", "GET", "/api/audit/runs/..%2f..%2fetc%2fpasswd.csv"),
    ("token", "GET", "/api/refunds/..%2f..%2fetc%2fpasswd"),
    ("token", "GET", "/api/orders/..%2f..%2fetc%2fpasswd"),
    ("token", "DELETE", "/api/skus/links/..%2f..%2fOFFER-SEEDED"),
    ("token", "DELETE", "/api/catalogue/mappings/categories/..%2fDefault%2fShoes"),
    ("token", "DELETE", "/api/catalogue/mappings/attributes/..%2fcolour"),
)


def traversal_cases() -> list[Case]:
    cases = []
    for who in ("anonymous", "ada"):
        for url in STATIC_TRAVERSALS:
            def build(world: World, url: str = url, who: str = who) -> dict[str, Any]:
                return {"method": "GET", "url": url, "headers": admin_cookie(world) if who == "ada" else {}}

            cases.append(Case(f"traversal:{who}:{url}", "traversal", build, frozenset({400, 403, 404, 405}),
                              checks=(no_leak,)))
    for auth, method, url in ROUTE_TRAVERSALS:
        def build(world: World, auth: str = auth, method: str = method, url: str = url) -> dict[str, Any]:
            return {"method": method, "url": url, "headers": bearer(world) if auth == "token" else admin_cookie(world)}

        expect = frozenset({200}) if "/history/" in url else frozenset({400, 404, 422})
        cases.append(Case(f"traversal:{method} {url}", "traversal", build, expect,
                          checks=(no_leak, no_db_error)))
    return cases


# --- header injection and redirects -------------------------------------------------------------------------

EVIL_NEXT = (
    "//evil.example/x",
    "https://evil.example/",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "//evil.example%2f%2e%2e",
    "/%2F%2Fevil.example",
    "///evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\r\nSet-Cookie: mb_injected=1",
    "/\r\nMB-Injected: yes",
    "/%0d%0aMB-Injected:%20yes",
    "/\tevil",
    "evil.example",
)


def header_cases() -> list[Case]:
    cases = []
    for i, target in enumerate(EVIL_NEXT):
        def build(world: World, target: str = target) -> dict[str, Any]:
            return {"method": "GET", "url": "/login", "params": {"next": target}, "headers": admin_cookie(world)}

        cases.append(Case(f"header:open-redirect:/login?next#{i}", "header", build, frozenset({303}),
                          checks=(local_location,)))
    for page in ("/", "/exceptions", "/activity"):
        for header, value in (("Host", "evil.example"), ("X-Forwarded-Host", "evil.example"),
                              ("X-Forwarded-Proto", "https://evil.example"), ("X-Original-URL", "//evil.example/")):
            def build(world: World, page: str = page, header: str = header, value: str = value) -> dict[str, Any]:
                return {"method": "GET", "url": page, "headers": {header: value}}

            cases.append(Case(f"header:host-trick:{header}:{page}", "header", build, frozenset({303}),
                              checks=(no_foreign_host, redirects_to_login)))
        def build_login(world: World, page: str = page) -> dict[str, Any]:
            return {"method": "GET", "url": "/login", "params": {"next": page}, "headers": {"Host": "evil.example"}}

        cases.append(Case(f"header:host-trick:login-form:{page}", "header", build_login, frozenset({200}),
                          checks=(no_foreign_host,)))
    crlf_targets = (
        ("anonymous", "/exceptions?q=%0d%0aMB-Injected:%20yes", frozenset({303})),
        ("anonymous", "/exceptions?q=%0d%0aSet-Cookie:%20mb_injected=1", frozenset({303})),
        ("anonymous", "/orders?q=%E5%98%8A%E5%98%8DMB-Injected:%20yes", frozenset({303})),
        ("token", "/api/finance/report?month=2026-01%0d%0aMB-Injected:%20yes&format=csv", frozenset({400, 422})),
        ("token", "/api/audit/runs/1%0d%0aMB-Injected:%20yes.csv", frozenset({404, 422})),
        ("token", "/api/stock/MB-1%0d%0aMB-Injected:%20yes", frozenset({404})),
    )
    for who, url, expect in crlf_targets:
        def build(world: World, who: str = who, url: str = url) -> dict[str, Any]:
            return {"method": "GET", "url": url, "headers": bearer(world) if who == "token" else {}}

        cases.append(Case(f"header:crlf:{url}", "header", build, expect, checks=(no_injected_header,)))
    return cases


def all_cases() -> list[Case]:
    cases = (anonymous_cases() + bad_token_cases() + forged_session_cases() + csrf_cases() + webhook_cases() + sqli_cases() + xss_cases()
             + traversal_cases() + header_cases())
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, duplicates
    return cases
