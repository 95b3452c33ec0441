"""Hostile marketplace data through the real Mirakl client and the real order/stock services.

The client talks to an ``httpx2.MockTransport`` that serves wire-shaped but hostile answers (an
OR11 page built from the official example with unknown states, nulls, unicode and 300-character
SKUs, unknown fields, non-objects; error reports in odd encodings with spreadsheet-formula cells).
Each case must end in a clear error or an issue record; nothing crashes, and orders stored
before stay stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from sqlalchemy import delete, select

from marketbridge.adapters.db.models.core import StreamCursor, User
from marketbridge.adapters.db.models.order_feed import FeedEventRow, FeedStateRow, MirroredOrder
from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.adapters.errors import IntegrationError
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.adapters.mirakl.client import MiraklClient
from marketbridge.bootstrap import build_runtime
from tests.conftest import make_settings
from tests.reference import REFERENCE_ROOT

REFERENCE = REFERENCE_ROOT / "mirakl" / "OR11.response.200.json"
FORMULAS = ['=HYPERLINK("http://evil.example/x","click")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1:A9)",
            "=1+2", "\t=1"]


def reference_order() -> dict[str, Any]:
    if REFERENCE.exists():
        order = json.loads(REFERENCE.read_text())["orders"][0]
    else:  # the shape the client needs, in case the reference folder is not on this machine
        order = {"order_id": "X", "order_state": "WAITING_ACCEPTANCE", "created_date": "2026-11-01T10:00:00Z",
                 "last_updated_date": "2026-11-01T10:00:00Z", "currency_iso_code": "GBP", "price": 10.0,
                 "shipping_price": 0.0, "total_price": 10.0, "customer": {"firstname": "A", "lastname": "B"},
                 "order_lines": [{"order_line_id": "X-1", "order_line_state": "WAITING_ACCEPTANCE",
                                  "offer_sku": "MB-1", "quantity": 1, "price": 10.0, "total_price": 10.0}]}
    order["order_lines"] = order["order_lines"][:1]
    return order


def order(order_id: str, minute: int, **changes: Any) -> dict[str, Any]:
    raw = reference_order()
    raw.update(order_id=order_id, commercial_id=order_id, order_state="WAITING_ACCEPTANCE",
               created_date=f"2026-11-27T10:{minute:02d}:00Z", last_updated_date=f"2026-11-27T10:{minute:02d}:00Z",
               currency_iso_code="GBP")
    line = raw["order_lines"][0]
    line.update(order_line_id=f"{order_id}-1", order_line_state="WAITING_ACCEPTANCE", offer_sku="MB-000001",
                quantity=1)
    for key, value in changes.items():
        if key.startswith("line__"):
            line[key.removeprefix("line__")] = value
        else:
            raw[key] = value
    return raw


class FakeMirakl:
    """Serves OR11 pages and import reports; anything else is a 404 in Mirakl's error shape."""

    def __init__(self) -> None:
        self.orders: list[Any] = []
        self.or11_body: bytes | None = None
        self.reports: dict[str, tuple[bytes, str]] = {}

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/api/orders":
            if self.or11_body is not None:
                return httpx2.Response(200, content=self.or11_body, headers={"content-type": "application/json"})
            offset = int(request.url.params.get("offset", 0))
            size = int(request.url.params.get("max", 100))
            page = self.orders[offset:offset + size]
            return httpx2.Response(200, json={"orders": page, "total_count": len(self.orders)})
        for import_id, (content, content_type) in self.reports.items():
            if path.endswith(f"/imports/{import_id}/error_report"):
                return httpx2.Response(200, content=content, headers={"content-type": content_type})
        return httpx2.Response(404, json={"status": 404, "message": "Not found"})


def _runtime(db_url: str, **settings: Any) -> Any:
    return build_runtime(make_settings(db_url, mirakl_base_url="http://mirakl.invalid",
                                       order_initial_lookback_seconds=10**8, order_poll_overlap_seconds=60, **settings))


@pytest.fixture(scope="module")
def module_runtime(module_db_url: str) -> Iterator[Any]:
    runtime = _runtime(module_db_url)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def poll_runtime(module_db_url: str) -> Iterator[Any]:
    """The same database with the order feed off: the orders poll reads OR11 itself."""
    runtime = _runtime(module_db_url, order_feed_enabled=False)
    yield runtime
    runtime.close()


@pytest.fixture(params=["order feed", "orders poll"])
def orders_runtime(request: pytest.FixtureRequest) -> Any:
    """The runtime whose OR11 read gets the hostile pages: the order feed's (on by default, issue
    20), or the orders poll's own (the feed off)."""
    return request.getfixturevalue("module_runtime" if request.param == "order feed" else "poll_runtime")


def _serve(runtime: Any) -> Iterator[FakeMirakl]:
    served = FakeMirakl()
    client = MiraklClient.from_settings(runtime.settings, transport=httpx2.MockTransport(served))
    client.retry_attempts = 1
    runtime.__dict__["mirakl"] = client
    with runtime.db.session() as session:
        for table in (MarketplaceOrder, StreamCursor, FeedEventRow, MirroredOrder, FeedStateRow):
            session.execute(delete(table))
    yield served
    client.close()
    runtime.__dict__.pop("mirakl", None)


@pytest.fixture
def fake(module_runtime: Any) -> Iterator[FakeMirakl]:
    yield from _serve(module_runtime)


@pytest.fixture
def orders_fake(orders_runtime: Any) -> Iterator[FakeMirakl]:
    yield from _serve(orders_runtime)


def stored_ids(runtime: Any) -> set[str]:
    with runtime.db.session() as session:
        return set(session.scalars(select(MarketplaceOrder.order_id)))


@dataclass
class Read:
    """What one OR11 read stored, whichever read it was."""

    stored: int
    failed: list[str]
    cursor: str | None


def pull(runtime: Any) -> Read:
    """One OR11 read into the orders flow: the order feed's (forced: a test does not wait for its
    schedule; the poll then reads nothing), or with the feed off the orders poll's own."""
    from marketbridge.services import order_feed, orders

    if runtime.settings.order_feed_enabled:
        read = order_feed.read(runtime, force=True)
        assert orders.pull(runtime).source == "order feed"
        return Read(stored=read.orders_new + read.orders_updated, failed=read.failed, cursor=read.cursor)
    pulled = orders.pull(runtime)
    return Read(stored=pulled.stored, failed=pulled.failed, cursor=pulled.cursor)


# ----------------------------------------------------------------------------------------------------
# OR11 payloads through the client models


@pytest.mark.parametrize("changes", [
    {"order_state": "TELEPORTED_TO_MARS"},
    {"line__order_line_state": "SOMETHING_NEW"},
    {"brand_new_field": {"nested": [1, 2, {"x": None}]}, "line__another_new_field": "x"},
    {"customer": None},
    {"line__price_unit": None},
    {"last_updated_date": 1764237600},  # epoch seconds: pydantic reads them as a UTC time
    {"line__offer_sku": "Ünïcødé-ß-🙂-" + "L" * 286},
    {"commercial_id": None},
])
def test_tolerable_oddities_parse_in_the_client_model(changes):
    parsed = mirakl_models.Order.model_validate(order("JL-ODD-1", 1, **changes))
    assert parsed.order_id == "JL-ODD-1"


@pytest.mark.parametrize("changes", [
    {"order_id": None}, {"price": None}, {"line__quantity": None}, {"line__quantity": "many"},
    {"order_lines": None}, {"created_date": "yesterday"}, {"shipping_price": None},
])
def test_missing_essentials_are_a_validation_error_not_a_crash_elsewhere(changes):
    from pydantic import ValidationError

    raw = order("JL-BAD-1", 1)
    raw.update({k: v for k, v in changes.items() if not k.startswith("line__")})
    raw["order_lines"] and raw["order_lines"][0].update(
        {k.removeprefix("line__"): v for k, v in changes.items() if k.startswith("line__")})
    with pytest.raises(ValidationError):
        mirakl_models.Order.model_validate(raw)


# ----------------------------------------------------------------------------------------------------
# OR11 payloads through the order feed's read and the orders poll's own


def test_hostile_orders_do_not_stop_the_pull_and_stored_orders_stay(orders_runtime, orders_fake):
    module_runtime, fake = orders_runtime, orders_fake
    fake.orders = [order("JL-GOOD-1", 1)]
    assert pull(module_runtime).stored == 1
    long_sku = "Ünïcødé-" + "L" * 292
    fake.orders = [
        order("JL-GOOD-1", 1),                                     # already stored: a duplicate
        order("JL-UNKNOWN-STATE", 2, order_state="TELEPORTED"),
        order("JL-NULL-PRICE", 3, price=None),
        order("JL-NULL-LINES", 4, order_lines=None),
        order("JL-NULL-QTY", 5, line__quantity=None),
        order("JL-LONG-SKU", 6, line__offer_sku=long_sku),
        order("JL-EXTRA", 7, surprise={"deep": [1, {"x": None}]}, line__surprise=True),
        order("JL-BAD-DATE", 8, last_updated_date="not a date"),
        order("JL-INT-DATE", 9, last_updated_date=20261127),
        None,
        "JL-JUST-A-STRING",
        [1, 2, 3],
        order("JL-GOOD-2", 10),
    ]
    result = pull(module_runtime)
    ids = stored_ids(module_runtime)
    assert {"JL-GOOD-1", "JL-GOOD-2", "JL-UNKNOWN-STATE", "JL-EXTRA"} <= ids
    assert "JL-NULL-PRICE" in result.failed and "JL-NULL-LINES" in result.failed
    assert len(result.failed) >= 4
    # The cursor never moves past an order that could not be stored: it is read again next time.
    assert result.cursor is not None and result.cursor < "2026-11-27T10:10"
    with module_runtime.db.session() as session:
        row = session.scalars(select(MarketplaceOrder).where(MarketplaceOrder.order_id == "JL-UNKNOWN-STATE")).one()
        assert row.marketplace_state == "TELEPORTED"
        if "JL-LONG-SKU" in ids:
            long_row = session.scalars(select(MarketplaceOrder).where(MarketplaceOrder.order_id == "JL-LONG-SKU")).one()
            assert long_row.lines[0].offer_sku == long_sku


@pytest.mark.parametrize("body", [
    b"not json at all", b"[]", b'{"orders": "nope", "total_count": 1}', b'{"orders": [], "total_count": "x"}',
    b'{"orders": [{"order_id": "JL-ONLY"}], "total_count": null}', b"null",
    b"[" * 5000 + b"]" * 5000,
])
def test_garbage_or11_pages_are_a_clear_error_and_lose_nothing(orders_runtime, orders_fake, body):
    module_runtime, fake = orders_runtime, orders_fake
    fake.orders = [order("JL-KEEP", 1)]
    assert pull(module_runtime).stored == 1
    fake.or11_body = body
    try:
        result = pull(module_runtime)
    except IntegrationError as error:
        assert str(error)  # a clear, typed error the workflow step records and retries
    else:
        assert result.stored == 0
    assert "JL-KEEP" in stored_ids(module_runtime)


# ----------------------------------------------------------------------------------------------------
# Import error reports: encodings and formula cells


def report_csv(rows: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["offer-sku", "quantity", "error-line", "error-message"])
    for number, (sku, message) in enumerate(rows, start=2):
        writer.writerow([sku, "1", str(number), message])
    return out.getvalue()


ROWS = [("MB-000001", "La quantité est négative — refusée"), ("MB-000002", "Ünknown offer ß"),
        *[(f"MB-F{i}", formula) for i, formula in enumerate(FORMULAS)]]
ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8-bom": lambda text: text.encode("utf-8-sig"),
    "latin-1": lambda text: text.replace("—", "-").encode("latin-1"),
    "cp1252": lambda text: text.encode("cp1252"),
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le-bom": lambda text: b"\xff\xfe" + text.encode("utf-16-le"),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_error_reports_in_odd_encodings_are_read(module_runtime, fake, encoding):
    fake.reports["imp-" + encoding] = (ENCODINGS[encoding](report_csv(ROWS)), "text/csv")
    errors = module_runtime.mirakl.stock_error_report("imp-" + encoding)
    by_sku = {e.sku: e.message for e in errors}
    assert set(by_sku) == {sku for sku, _ in ROWS}
    assert by_sku["MB-000002"] == "Ünknown offer ß"
    assert by_sku["MB-000001"].startswith("La quantité est négative")
    for i, formula in enumerate(FORMULAS):
        assert by_sku[f"MB-F{i}"] == formula  # read faithfully; neutralised only where shown


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02garbage\xff", b'"offer-sku";"error-message"\n"a";"b";"c";"d"\n',
                                     b"\xff\xfe\x00"])
def test_unreadable_error_reports_are_a_clear_error(module_runtime, fake, content):
    fake.reports["imp-bad"] = (content, "text/csv")
    try:
        errors = module_runtime.mirakl.stock_error_report("imp-bad")
    except IntegrationError as error:
        assert "report" in str(error)
    else:
        assert isinstance(errors, list)


def test_formula_cells_from_a_report_are_neutralised_in_every_csv_export():
    """What people open in a spreadsheet: the audit and finance exports quote formula cells."""
    from marketbridge.domain.catalogue import csv_safe
    from marketbridge.domain.finance import safe_cell

    for formula in FORMULAS:
        for neutralise in (csv_safe, safe_cell):
            cell = str(neutralise(formula))
            assert cell.startswith("'") and cell[1:] == formula
    assert safe_cell(-1) == -1 and csv_safe("MB-000001") == "MB-000001"


def test_formula_and_markup_in_an_error_report_reach_the_dashboard_inert(module_runtime, fake):
    """A hostile report message becomes the SKU's stock message and an issue record; the console
    shows it as text (escaped), never as markup or a live formula link."""
    from fastapi.testclient import TestClient

    from marketbridge.domain.auth import Role
    from marketbridge.services import auth
    from marketbridge.services import issues as issue_service
    from marketbridge.web.app import create_app

    hostile = '=HYPERLINK("http://evil.example/x","click")<script>alert(1)</script>'
    with module_runtime.db.session() as session:
        from marketbridge.domain.issues import IssueReport, registered_types

        kind = next(t for code, t in sorted(registered_types().items()) if code.startswith("stock_"))
        issue_service.record(session, IssueReport(
            type=kind, object_id="MB-HOSTILE", message=hostile, detail=hostile))
        if session.scalars(select(User).where(User.name == "rel-ops")).first() is None:
            people = SqlPeopleRepository(session)
            auth.create_user(people, "rel-ops", Role.OPS, "correct horse battery staple")
    app = create_app(module_runtime, start_engine=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        import re

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        login = client.post("/login", data={"name": "rel-ops", "password": "correct horse battery staple",
                                            "csrf_token": csrf}, follow_redirects=False)
        assert login.status_code in (200, 303)
        page = client.get("/exceptions")
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text
        assert "MB-HOSTILE" in page.text
