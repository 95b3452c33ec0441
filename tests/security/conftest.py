"""The hostile-input corpus: one running app per module, a ledger of every case, and the summary.

``world`` is the real web app (``create_app(runtime, start_engine=False)``) on a migrated database,
served through a TestClient that does not re-raise server errors (a crash is the 500 a caller
would see). It holds a user of every role (logged in through the real ``POST /login``), their API
tokens, a revoked token, the token of a deleted user, an anonymous session with its CSRF token,
real rows that a successful attack would change (a stock rule, a carrier mapping, catalogue
mappings, a SKU link, an order, issues), the cookie and token of a deactivated admin, and script payloads stored in fields the console renders.

``run_case`` sends one case and checks it: the answer is one of the case's refusal statuses, the
case's own checks pass, and no watched table changed (a digest of every row, before and after).
Every run is recorded in :data:`LEDGER`; ``pytest_terminal_summary`` prints
``hostile inputs: N tried, N refused, 0 stored`` from it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import inspect, select, text
from starlette.testclient import TestClient

from tests.conftest import settle_webhooks
from tests.reliability.conftest import module_db_url  # noqa: F401 - one migrated database per module

SESSION_SECRET = "corpus-" + secrets.token_urlsafe(40)
"""The configured secret of the app under test: random, longer than 32 bytes."""

PASSWORD = "corpus Vq8#lantern-orbit-passphrase"
"""Long and uncommon, so it also passes the stricter password policy of issue 19."""

USERS = {  # name -> role value; one of every role
    "ada": "admin",
    "eddie": "ecommerce",
    "olive": "ops",
    "fay": "finance",
    "cass": "customer_service",
}

WEBHOOK_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
WEBHOOK_LIMIT = 100_000

WATCHED_TABLES = (
    "users", "api_tokens", "audit_log", "exception_records", "webhook_events", "stock_hints",
    "stock_rules", "sync_outbox", "carrier_mappings", "catalogue_attribute_mappings",
    "catalogue_category_mappings", "catalogue_overrides", "catalogue_listings", "sku_links",
    "marketplace_orders", "order_transitions", "shipments_out", "refunds_out", "audit_runs",
)
"""Every table a request from outside could write to. ``run_case`` digests them before and after."""

IGNORED_COLUMNS = frozenset({"last_used_at"})
"""Bookkeeping a *valid* token updates on use; the SQL-injection cases use valid tokens."""


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def sign(body: bytes, key: rsa.RSAPrivateKey = WEBHOOK_KEY) -> str:
    """Adobe Commerce's scheme: base64(RSA-SHA256 PKCS#1 v1.5 over base64(raw body))."""
    return base64.b64encode(key.sign(base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())).decode()


def session_cookie(data: dict[str, Any], secret: str) -> str:
    """A Starlette ``SessionMiddleware`` cookie value for ``data``, signed with ``secret``
    (the middleware's own format: itsdangerous TimestampSigner over base64 JSON)."""
    import json

    from itsdangerous import TimestampSigner

    payload = base64.b64encode(json.dumps(data).encode())
    return TimestampSigner(secret).sign(payload).decode()


# --- the ledger and the summary ---------------------------------------------------------------------


@dataclass
class Ledger:
    tried: int = 0
    refused: int = 0
    stored: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


LEDGER = Ledger()
_ACTIVE: dict[str, Ledger] = {"ledger": LEDGER}


def record(category: str, refused: bool, stored: bool, what: str) -> None:
    """Count a case that is not sent through :func:`run_case` (e.g. one needing its own app)."""
    ledger = _ACTIVE["ledger"]
    ledger.tried += 1
    ledger.by_category[category] += 1
    ledger.stored += int(stored)
    if refused and not stored:
        ledger.refused += 1
    else:
        ledger.failures.append(what)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if LEDGER.tried == 0:
        return
    reporter = terminalreporter
    reporter.write_sep("-", "hostile-input corpus (tests/security)")
    reporter.write_line(f"hostile inputs: {LEDGER.tried} tried, {LEDGER.refused} refused, {LEDGER.stored} stored")
    reporter.write_line("  by category: " + ", ".join(f"{k} {v}" for k, v in sorted(LEDGER.by_category.items())))
    for failure in LEDGER.failures[:20]:
        reporter.write_line(f"  NOT refused: {failure}")


# --- the world ----------------------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    runtime: Any
    app: Any
    tokens: dict[str, str]
    cookies: dict[str, str]
    csrf: dict[str, str]
    anon_cookie: str
    anon_csrf: str
    revoked_token: str
    deleted_token: str
    ids: dict[str, Any]
    tables: tuple[str, ...]
    replay_body: bytes = b""
    deactivated_token: str = ""
    deactivated_cookie: str = ""

    def snapshot(self, tables: tuple[str, ...] | None = None) -> dict[str, str]:
        """A digest of every row of each table (order-independent), ignoring bookkeeping columns."""
        tables = tables or self.tables
        with self.runtime.db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                return self._pg_snapshot(conn, tables)
            digests: dict[str, str] = {}
            for table in tables:
                result = conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed table names
                keys = list(result.keys())
                rows = sorted(
                    repr(tuple(value for key, value in zip(keys, row, strict=True) if key not in IGNORED_COLUMNS))
                    for row in result
                )
                digests[table] = f"{len(rows)}:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
        return digests

    @staticmethod
    def _pg_snapshot(conn: Any, tables: tuple[str, ...]) -> dict[str, str]:
        """The same digest in one round trip: each row as JSON without the ignored columns, md5 of
        the sorted rows (a snapshot per case and table was most of the PostgreSQL tier's time)."""
        ignored = " - ".join(f"'{c}'" for c in sorted(IGNORED_COLUMNS))
        parts = []
        for table in tables:
            row = f"(to_jsonb(x) - {ignored})::text"
            parts.append(f"(SELECT count(*) || ':' || md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) "
                         f"FROM {table} x) AS {table}")
        found = conn.execute(text("SELECT " + ", ".join(parts))).mappings().one()  # noqa: S608 - fixed names
        return {table: str(found[table]) for table in tables}


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, "page carries no CSRF token"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> tuple[str, str]:
    """Log in through the real form; returns (session cookie value, the session's CSRF token)."""
    from marketbridge.web.console_setup import SESSION_COOKIE

    client.cookies.clear()
    token = _csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": "/"},
                         follow_redirects=False)
    assert answer.status_code == 303, (name, answer.status_code, answer.text[:300])
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    client.cookies.clear()
    home = client.get("/", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}, follow_redirects=False)
    assert home.status_code == 200, f"the fresh session of {name} does not open the console"
    csrf = _csrf_of(home.text)
    client.cookies.clear()
    return cookie, csrf


XSS_PAYLOADS = (
    "<script>alert('mb-xss-1')</script>",
    "\"><img src=x onerror=alert('mb-xss-2')>",
    "'><svg/onload=alert('mb-xss-3')>",
    "</textarea></title><script>alert('mb-xss-4')</script>",
    "<a href=\"javascript:alert('mb-xss-5')\">mb-xss-5</a>",
)


def _seed(runtime: Any, world_ids: dict[str, Any]) -> None:
    """Rows a successful attack would change, and stored script payloads the console renders."""
    from marketbridge.adapters.db.base import utcnow
    from marketbridge.adapters.db.models.shipments import MarketplaceCarrier
    from marketbridge.domain.issues import WORKFLOW_FAILED, IssueReport
    from marketbridge.domain.stock import Kind, Scope
    from marketbridge.services import catalogue as catalogue_service
    from marketbridge.services import issues as issue_service
    from marketbridge.services import shipments as shipment_service
    from marketbridge.services import skus as sku_service
    from marketbridge.services.stock.rules import list_rules, put_rule

    with runtime.db.session() as s:
        # the carrier list is normally read from the marketplace (SH21); cached here, fresh
        s.add(MarketplaceCarrier(code="DPD", label="DPD", refreshed_at=utcnow()))
        s.add(MarketplaceCarrier(code="RM", label="Royal Mail", refreshed_at=utcnow()))
        put_rule(s, Kind.STOCK, Scope.GLOBAL, "", {"buffer": 1}, actor="ada", note="seeded")
        for i, payload in enumerate(XSS_PAYLOADS):
            put_rule(s, Kind.STOCK, Scope.SKU, f"MB-XSS-{i}", {"buffer": 2}, actor="ada", note=payload)
            record = issue_service.record(s, IssueReport(WORKFLOW_FAILED, f"order:JL-XSS-{i}", payload))
            world_ids.setdefault("xss_exceptions", []).append(record.id)
            # an action by a person whose name is the payload (a name set by the CLI, or typed at log-in)
            issue_service.audit(s, payload, "exception.acknowledge", "exception", str(record.id), note=payload)
        catalogue = runtime.catalogue_store.on_session(s)  # the catalogue's repository, in this transaction
        catalogue_service.set_attribute_mapping(catalogue, "colour", "color", None, actor="ada")
        catalogue_service.set_category_mapping(catalogue, "Default/Shoes", "shoes", actor="ada")
        sku_service.link(s, "OFFER-SEEDED", "MB-000001", confirmed_by="ada", note="seeded")
        world_ids["exception"] = world_ids["xss_exceptions"][0]
    from marketbridge.adapters.db.models.orders import MarketplaceOrder

    with runtime.db.session() as s:
        # an order already past acceptance: a decision that gets through is answered 409, not 404
        now = utcnow()
        s.add(MarketplaceOrder(connection=runtime.settings.order_connection, order_id="JL-0001-A", state="held",
                               marketplace_state="SHIPPING", marketplace_updated_at=now, marketplace_created_at=now,
                               currency="GBP", customer_name=XSS_PAYLOADS[0]))
    with runtime.db.session() as s:
        world_ids["rule"] = next(r.id for r in list_rules(s) if r.scope == "global")
    for i, payload in enumerate(XSS_PAYLOADS):
        added = shipment_service.add_mapping(runtime, marketplace_code="DPD", magento_carrier_code=f"xss{i}",
                                             title=payload, actor="ada")
        world_ids.setdefault("carrier_mappings", []).append(added.mapping.id)
    world_ids["carrier_mapping"] = world_ids["carrier_mappings"][0]


@pytest.fixture(scope="module")
def world(module_db_url: str) -> Iterator[World]:  # noqa: F811 - the fixture imported above
    from marketbridge.adapters.db.models.core import ApiToken, User
    from marketbridge.adapters.db.people import SqlPeopleRepository
    from marketbridge.bootstrap import build_runtime
    from marketbridge.domain.auth import Role
    from marketbridge.services import auth
    from marketbridge.web.app import create_app
    from marketbridge.web.console_setup import SESSION_COOKIE
    from tests.conftest import make_settings

    settings = make_settings(module_db_url, session_secret=SESSION_SECRET,
                             magento_webhook_public_key=public_pem(WEBHOOK_KEY),
                             webhook_max_body_bytes=WEBHOOK_LIMIT)
    runtime = build_runtime(settings)
    app = create_app(runtime, start_engine=False)
    tokens: dict[str, str] = {}
    with runtime.db.session() as s:
        for name, role in USERS.items():
            people = SqlPeopleRepository(s)
            tokens[name] = auth.create_token(people, auth.create_user(people, name, Role(role), PASSWORD),
                                             label="corpus")
        revoked_owner = s.scalars(select(User).where(User.name == "ada")).one()
        revoked_token = auth.create_token(SqlPeopleRepository(s), revoked_owner, label="revoked")
        s.flush()
        s.scalars(select(ApiToken).where(ApiToken.label == "revoked")).one().revoked = True
        quitter = auth.create_user(SqlPeopleRepository(s), "quitter", Role.ADMIN, PASSWORD)
        deactivated_token = auth.create_token(SqlPeopleRepository(s), quitter, label="deactivated-user")
        gone = auth.create_user(SqlPeopleRepository(s), "gone", Role.ADMIN, PASSWORD)
        deleted_token = auth.create_token(SqlPeopleRepository(s), gone, label="deleted-user")
        s.flush()
        s.delete(gone)
    ids: dict[str, Any] = {}
    with runtime.db.session() as s:
        ids["users"] = {u.name: u.id for u in s.scalars(select(User))}
    _seed(runtime, ids)  # the log-in throttle lives in this module's fresh database: nothing to reset
    try:
        # https, so that the session cookie travels whether or not it is marked Secure
        with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
            cookies: dict[str, str] = {}
            csrf: dict[str, str] = {}
            for name in USERS:
                cookies[name], csrf[name] = login(client, name)
            deactivated_cookie, _ = login(client, "quitter")
            with runtime.db.session() as s:  # deactivated after logging in: cookie and token are stale
                s.scalars(select(User).where(User.name == "quitter")).one().active = False
            client.cookies.clear()
            anon_csrf = _csrf_of(client.get("/login").text)
            anon_cookie = client.cookies.get(SESSION_COOKIE)
            assert anon_cookie
            client.cookies.clear()
            present = set(inspect(runtime.db.engine).get_table_names())
            missing = [t for t in WATCHED_TABLES if t not in present]
            assert not missing, f"watched tables missing from the schema: {missing}"
            w = World(client, runtime, app, tokens, cookies, csrf, anon_cookie, anon_csrf, revoked_token,
                      deleted_token, ids, WATCHED_TABLES, deactivated_token=deactivated_token,
                      deactivated_cookie=deactivated_cookie)
            # A genuine delivery, so that its replay is a case of the corpus.
            import json

            w.replay_body = json.dumps({"eventName": "observer.cataloginventory_stock_item_save_commit_after",
                                        "data": {"item": {"sku": "MB-000042"}}}).encode()
            first = client.post("/webhooks/adobe-commerce", content=w.replay_body,
                                headers={"Content-Type": "application/json",
                                         "x-adobe-commerce-webhook-signature": sign(w.replay_body)})
            assert first.status_code == 200, first.text
            yield w
    finally:
        runtime.close()


# --- running one case -----------------------------------------------------------------------------


Check = Callable[["World", Any], list[str]]


@dataclass(frozen=True)
class Case:
    """One hostile input.

    ``build(world)`` returns the keyword arguments of ``TestClient.request`` (method, url, headers,
    content/data/json); ``expect`` the statuses that count as refused; ``watch`` the tables that
    must not change (``None``: every table in :data:`WATCHED_TABLES`); ``checks`` extra conditions
    on the answer (each returns a list of problems, empty when fine).
    """

    id: str
    category: str
    build: Callable[[World], dict[str, Any]]
    expect: frozenset[int]
    watch: tuple[str, ...] | None = None
    checks: tuple[Check, ...] = ()
    counted: tuple[str, ...] = ()
    """Tables of ``watch`` that the input may touch but must not add a row to or remove one from:
    a replayed genuine webhook is not stored again, yet re-runs its hints (it may be a real change
    back to an earlier value, since plain webhook bodies carry no time)."""


def run_case(world: World, case: Case) -> None:
    settle_webhooks(world.client.app)  # an earlier test's delivery may still be dispatching (PostgreSQL)
    before = world.snapshot(case.watch)
    world.client.cookies.clear()
    request = case.build(world)
    response = world.client.request(follow_redirects=False, **request)
    settle_webhooks(world.client.app)
    after = world.snapshot(case.watch)
    world.client.cookies.clear()
    def rows(digest: str) -> str:
        return digest.split(":", 1)[0]

    changed = sorted(t for t in before if before[t] != after[t]
                     and (t not in case.counted or rows(before[t]) != rows(after[t])))
    problems: list[str] = []
    if response.status_code not in case.expect:
        problems.append(f"status {response.status_code} not in {sorted(case.expect)}: {response.text[:200]!r}")
    if changed:
        problems.append(f"stored something in {changed}")
    for check in case.checks:
        problems.extend(check(world, response))
    ledger = _ACTIVE["ledger"]
    ledger.tried += 1
    ledger.by_category[case.category] += 1
    if changed:
        ledger.stored += 1
    if problems:
        ledger.failures.append(f"{case.id}: {'; '.join(problems)}")
    else:
        ledger.refused += 1
    assert not problems, f"{case.id}: " + "; ".join(problems)
