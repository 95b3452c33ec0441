"""MiraklClient over real HTTP against the Mirakl sandbox (serve_in_thread).

Every test gets its own sandbox (rate_scale=0.01: OR11 once per 0.6 s, STO02 every 0.15 s) so
call-frequency state never leaks between tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from prometheus_client import REGISTRY

from marketbridge.adapters.errors import (
    AuthFailed,
    NetworkError,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
)
from marketbridge.adapters.mirakl import MiraklClient, models
from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.server import RunningServer, serve_in_thread

SCALE = 0.01
KEY = "test-mirakl-key"


class Sandbox:
    def __init__(self, server: RunningServer, app: object) -> None:
        self.server = server
        self.app = app
        self.state = app.state.sandbox  # type: ignore[attr-defined]
        self.control = httpx2.Client(base_url=server.url, timeout=10)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, api_key: str = KEY, **kw: object) -> MiraklClient:
        options: dict[str, object] = {"rate_scale": SCALE, "retry_wait_initial": 0.01, "retry_wait_max": 0.05, **kw}
        return MiraklClient(self.url, api_key, **options)  # type: ignore[arg-type]

    def post(self, path: str, body: object = None) -> httpx2.Response:
        response = self.control.post(path, json=body)
        assert response.status_code < 300, response.text
        return response

    def calls(self, api: str | None = None) -> list[dict[str, object]]:
        calls = self.control.get("/_sandbox/calls").json()
        return [c for c in calls if api is None or c["api"] == api]

    def active_sku(self, min_qty: int = 3) -> str:
        with self.state.lock:
            return next(o.shop_sku for o in self.state.live_offers() if o.active and o.quantity >= min_qty
                        and o.shop_sku == o.shop_sku.strip())

    def new_order(self, qty: int = 2, **extra: object) -> str:
        sku = self.active_sku(qty)
        return self.post("/_sandbox/orders", {"lines": [{"offer_sku": sku, "quantity": qty}], **extra}).json()["order_id"]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    app = create_app(products=60, api_key=KEY, rate_scale=SCALE)
    server = serve_in_thread(app)
    box = Sandbox(server, app)
    try:
        yield box
    finally:
        box.control.close()
        server.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[MiraklClient]:
    with sandbox.client() as c:
        yield c


def _counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------------------------------------------ auth
def test_wrong_key_is_auth_failed_and_the_key_never_shows(sandbox: Sandbox) -> None:
    with sandbox.client(api_key="wrong-secret-key") as bad:
        with pytest.raises(AuthFailed) as caught:
            bad.carriers()
    assert caught.value.status == 401
    assert "wrong-secret-key" not in str(caught.value) and "wrong-secret-key" not in repr(bad)
    assert sandbox.calls("SH21")[0]["status"] == 401


def test_other_shop_id_is_forbidden(sandbox: Sandbox) -> None:
    with sandbox.client(shop_id=9999) as other:
        with pytest.raises(AuthFailed) as caught:
            other.reasons()
    assert caught.value.status == 403


def test_raw_key_and_shop_id_are_sent(sandbox: Sandbox) -> None:
    seen: list[httpx2.Request] = []

    def spy(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(204)

    with MiraklClient("http://mirakl.invalid", "raw-key-123", shop_id=2001, transport=httpx2.MockTransport(spy)) as c:
        c.ship_order("JL-1-A")
    request = seen[0]
    assert request.headers["authorization"] == "raw-key-123"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-length"] == "0"
    assert request.url.params["shop_id"] == "2001"
    assert request.url.path == "/api/orders/JL-1-A/ship"


# ------------------------------------------------------------------------------------ paging
def test_offset_paging_reads_every_offer_and_only_the_first_page_is_rate_counted(sandbox: Sandbox,
                                                                                  client: MiraklClient) -> None:
    offers = list(client.list_offers(page_size=7))
    with sandbox.state.lock:
        expected = {o.shop_sku for o in sandbox.state.live_offers()}
    assert {o.shop_sku for o in offers} == expected
    assert len(offers) == len(expected)
    calls = sandbox.calls("OF21")
    assert len(calls) == -(-len(expected) // 7)
    assert all(c["status"] == 200 for c in calls)


def test_orders_paging_and_filters(sandbox: Sandbox, client: MiraklClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    ids = [sandbox.new_order(qty=1) for _ in range(7)]
    found = [o.order_id for o in client.list_orders(start_update_date=before, page_size=3)]
    assert found == ids
    assert [c["status"] for c in sandbox.calls("OR11")] == [200, 200, 200]
    just_two = list(client.list_orders(order_ids=ids[2:4]))
    assert [o.order_id for o in just_two] == ids[2:4]
    assert list(client.list_orders(order_state_codes=["SHIPPING"])) == []


# ------------------------------------------------------------------------------------ limits
def test_client_spaces_calls_by_the_documented_frequency(sandbox: Sandbox, client: MiraklClient) -> None:
    start = time.monotonic()
    list(client.list_orders())
    list(client.list_orders())
    list(client.list_orders())
    elapsed = time.monotonic() - start
    assert elapsed >= 2 * 60 * SCALE - 0.05  # two full OR11 intervals
    assert [c["status"] for c in sandbox.calls("OR11")] == [200, 200, 200]


def test_429_retry_after_is_honoured() -> None:
    app = create_app(products=20, api_key=KEY, rate_scale=0.03)  # OR11: once per 1.8 s
    server = serve_in_thread(app)
    box = Sandbox(server, app)
    before = _counter("marketbridge_api_429_total", api="OR11")
    try:
        with box.client(rate_scale=0.03) as first, box.client(rate_scale=0.03) as second:  # two limiters
            list(first.list_orders())
            start = time.monotonic()
            list(second.list_orders())
            waited = time.monotonic() - start
        assert [c["status"] for c in box.calls("OR11")] == [200, 429, 200]
        assert waited >= 1.0  # Retry-After is whole seconds: ceil of what is left of 1.8 s
        assert _counter("marketbridge_api_429_total", api="OR11") == before + 1
    finally:
        box.control.close()
        server.stop()


def test_client_refuses_to_wait_longer_than_its_limit(sandbox: Sandbox) -> None:
    with sandbox.client(max_limiter_wait=0.5) as c:
        c.account()
        with pytest.raises(RateLimited) as caught:
            c.account()  # A01 is once a day: 864 s at this scale
    assert caught.value.status is None and caught.value.retry_after == pytest.approx(865)  # 864 s + 1 s margin
    assert len(sandbox.calls("A01")) == 1


# ------------------------------------------------------------------------------------ retries
def test_server_errors_are_retried_for_reads_only(sandbox: Sandbox) -> None:
    sandbox.post("/_sandbox/faults", {"rules": [{"endpoint": "SH21", "error_rate": 1.0},
                                                {"endpoint": "OR24", "error_rate": 1.0}]})
    with sandbox.client(retry_attempts=3) as c:
        with pytest.raises(ServerError):
            c.carriers()
        with pytest.raises(ServerError):
            c.ship_order("JL-000001-A")
    assert [x["status"] for x in sandbox.calls("SH21")] == [500, 500, 500]
    assert [x["status"] for x in sandbox.calls("OR24")] == [500]


def test_a_transient_500_on_a_read_is_absorbed(sandbox: Sandbox) -> None:
    import random

    seed = next(s for s in range(1000) if (r := random.Random(s)).random() < 0.5 <= r.random())
    sandbox.post("/_sandbox/faults", {"rules": [{"endpoint": "RE01", "error_rate": 0.5}], "seed": seed})
    with sandbox.client() as c:
        reasons = c.reasons("REFUND")
    assert {r.code for r in reasons} >= {"15"}
    assert [x["status"] for x in sandbox.calls("RE01")] == [500, 200]


def test_a_timed_out_write_is_not_repeated_but_took_effect(sandbox: Sandbox) -> None:
    order_id = sandbox.new_order()
    sandbox.state.settings.mandatory_tracking = False
    with sandbox.client() as c:
        line = c.get_order(order_id).order_lines[0]
        c.accept_order(order_id, {line.order_line_id: True})
    sandbox.post(f"/_sandbox/orders/{order_id}/debit")
    sandbox.post("/_sandbox/faults", {"rules": [{"endpoint": "OR24", "timeout_rate": 1.0, "timeout_seconds": 1.5}]})
    with sandbox.client(timeout=0.4) as c:
        with pytest.raises(NetworkError):
            c.ship_order(order_id)
        assert not c.is_retry_safe("OR24") and c.is_retry_safe("OR11")
    assert len(sandbox.calls("OR24")) == 1
    sandbox.control.delete("/_sandbox/faults")
    time.sleep(0.7)
    with sandbox.client() as c:
        assert c.get_order(order_id).order_state == "SHIPPED"  # re-read state before any retry


# ------------------------------------------------------------------------------------ imports
def test_stock_import_round_trip_with_error_report(sandbox: Sandbox, client: MiraklClient) -> None:
    sku = sandbox.active_sku()
    trailing = "MB-TRAILING-0001 "
    result = client.import_stock([
        {"offer-sku": sku, "quantity": 42},
        {"offer-sku": "NO-SUCH-SKU", "quantity": 1},
        {"offer-sku": trailing, "quantity": "lots"},
        {"offer-sku": trailing, "quantity": 7},
    ])
    assert result.status == "COMPLETE"
    assert result.results[sku] == "ok"
    assert result.results["NO-SUCH-SKU"] == "The offer does not exist"
    assert "not a valid positive integer" in result.results[trailing]
    assert {(e.line, e.sku) for e in result.errors} == {(3, "NO-SUCH-SKU"), (4, trailing)}
    assert result.lines_in_success == 2 and result.lines_in_error == 2
    offer = sandbox.control.get(f"/_sandbox/offers/{sku}").json()
    assert offer["quantity"] == 42
    assert sandbox.control.get(f"/_sandbox/offers/{trailing}").json()["quantity"] == 7
    apis = [c["api"] for c in sandbox.calls()]
    assert apis[0] == "STO01" and "STO02" in apis and apis[-1] == "STO03"


def test_each_import_step_can_be_called_separately(sandbox: Sandbox, client: MiraklClient) -> None:
    sku = sandbox.active_sku()
    import_id = client.submit_prices([{"offer-sku": sku, "price": "19.99"}, {"offer-sku": sku + "-X", "price": "5"}])
    status = client.wait_for_import("PRI01", import_id)
    assert status.status == "COMPLETE" and status.has_error_report
    report = client.price_error_report(import_id)
    assert [(e.sku, e.message) for e in report] == [(sku + "-X", "The offer does not exist")]
    result = client.import_result("PRI01", import_id, [sku, sku + "-X"], status)
    assert result.failed_skus() == {sku + "-X": "The offer does not exist"}
    assert sandbox.control.get(f"/_sandbox/offers/{sku}").json()["price"] == 19.99


def test_product_then_offer_import_makes_a_live_offer(sandbox: Sandbox, client: MiraklClient) -> None:
    good = {"category": "home/lighting", "shop_sku": "MB-NEW-0001", "title": "Brass Floor Lamp",
            "description": "A tall brass lamp.", "brand": "Marketbridge Home", "ean": "5012345678900",
            "main_image": "https://images.example.invalid/mb-new-0001.jpg", "color": "Black"}
    bad = {**good, "shop_sku": "MB-NEW-0002", "ean": "123", "title": "x" * 200, "color": "Purple"}
    products = client.import_products([good, bad])
    assert products.results["MB-NEW-0001"] == "ok"
    message = products.results["MB-NEW-0002"]
    assert "13 digits" in message and "longer than 150" in message and "Purple" in message
    assert [row["shop_sku"] for row in client.new_product_report(products.import_id)] == ["MB-NEW-0001"]
    with pytest.raises(NotFound):  # P47: the sandbox imports the operator format, so it has none
        client.transformation_error_report(products.import_id)

    offers = client.import_offers(
        [{"sku": "MB-NEW-0001", "product-id": "MB-NEW-0001", "product-id-type": "SHOP_SKU", "price": "129.00",
          "quantity": 4, "state": "11"},
         {"sku": "MB-NEW-0002", "product-id": "MB-NEW-0002", "product-id-type": "SHOP_SKU", "price": "10",
          "quantity": 1, "state": "11"}],
        ["sku", "product-id", "product-id-type", "price", "quantity", "state"],
    )
    assert offers.results == {"MB-NEW-0001": "ok", "MB-NEW-0002": "The product does not exist"}
    live = list(client.list_offers(sku="MB-NEW-0001"))
    assert len(live) == 1 and live[0].active and live[0].quantity == 4 and live[0].price == 129.0


def test_offer_export_lists_inactive_offers_with_reasons(sandbox: Sandbox, client: MiraklClient) -> None:
    sku = sandbox.active_sku()
    sandbox.control.put(f"/_sandbox/offers/{sku}", json={"quantity": 0})
    rows = client.export_offers(models.OfferExportRequest(export_type="application/json",
                                                          include_inactive_offers=True))
    by_sku = {row["shop_sku"]: row for row in rows}
    assert by_sku[sku]["active"] is False and "ZERO_QUANTITY" in by_sku[sku]["inactivity_reasons"]
    assert [c["api"] for c in sandbox.calls()][:2] == ["OF52", "OF53"]
    assert sandbox.calls("OF54")


# ------------------------------------------------------------------------------------ orders
def test_order_lifecycle(sandbox: Sandbox, client: MiraklClient) -> None:
    start = datetime.now(UTC) - timedelta(seconds=2)
    order_id = sandbox.new_order(qty=2)
    [order] = list(client.list_orders(start_update_date=start))
    assert order.order_id == order_id and order.order_state == "WAITING_ACCEPTANCE"
    assert order.customer is not None and order.customer.shipping_address is None  # hidden before debit
    line = order.order_lines[0]
    assert line.order_line_id == f"{order_id}-1"

    with pytest.raises(NotFound) as missing:
        client.accept_order(order_id, models.AcceptOrderRequest(order_lines=[models.AcceptLine(id="x-1", accepted=True)]))
    assert missing.value.code == "ORDER_LINE_NOT_FOUND" and missing.value.status == 404
    client.accept_order(order_id, {line.order_line_id: True})
    with pytest.raises(Rejected) as twice:
        client.accept_order(order_id, {line.order_line_id: True})
    assert twice.value.code == "ORDER_INVALID_STATE"

    sandbox.post(f"/_sandbox/orders/{order_id}/debit")
    time.sleep(0.65)
    order = client.get_order(order_id)
    assert order.order_state == "SHIPPING" and order.customer.shipping_address.city == "London"  # type: ignore[union-attr]

    with pytest.raises(Rejected) as no_tracking:
        client.ship_order(order_id)
    assert "Tracking details are mandatory" in no_tracking.value.message
    with pytest.raises(Rejected):
        client.update_tracking(order_id, models.TrackingRequest(carrier_code="PIGEON", tracking_number="1"))
    client.update_tracking(order_id, models.TrackingRequest(carrier_code="ROYAL_MAIL", tracking_number="RM123GB"))
    client.ship_order(order_id)
    time.sleep(0.65)
    order = client.get_order(order_id)
    assert order.order_state == "SHIPPED"
    assert order.shipping_tracking_url and order.shipping_tracking_url.endswith("RM123GB")
    line = order.order_lines[0]
    assert line.can_refund

    with pytest.raises(Rejected) as over:
        client.refund(models.RefundRequest(refunds=[models.RefundLineRequest(
            order_line_id=line.order_line_id, amount=line.price + 0.01, shipping_amount=0, reason_code="15")]))
    assert "exceeds the remaining refundable amount" in over.value.message
    response = client.refund(models.RefundRequest(refunds=[models.RefundLineRequest(
        order_line_id=line.order_line_id, amount=line.price, shipping_amount=line.shipping_price, reason_code="15",
        quantity=line.quantity)]))
    [created] = response.refunds
    assert created.refund_id and created.amount == line.price
    with pytest.raises(Rejected):  # nothing left to refund
        client.refund(models.RefundRequest(refunds=[models.RefundLineRequest(
            order_line_id=line.order_line_id, amount=0.01, shipping_amount=0, reason_code="15")]))

    sandbox.post("/_sandbox/clock/advance", {"seconds": 60})
    time.sleep(0.65)
    order = client.get_order(order_id)
    refund = order.order_lines[0].refunds[0]
    assert refund.id == created.refund_id and refund.status == "REFUNDED"
    assert order.order_lines[0].order_line_state == "REFUNDED" and order.fully_refunded


def test_unknown_order_is_not_found(client: MiraklClient) -> None:
    with pytest.raises(NotFound):
        client.ship_order("JL-999999-A")


def test_mixed_decision_needs_partial_acceptance(sandbox: Sandbox, client: MiraklClient) -> None:
    skus = [o.shop_sku for o in sandbox.state.live_offers() if o.active and o.quantity >= 1][:2]
    order_id = sandbox.post("/_sandbox/orders", {"lines": [{"offer_sku": s, "quantity": 1} for s in skus]}).json()["order_id"]
    with pytest.raises(Rejected) as caught:
        client.accept_order(order_id, {f"{order_id}-1": True, f"{order_id}-2": False})
    assert caught.value.code == "ORDER_PARTIAL_ACCEPTANCE_DISABLED"
    with pytest.raises(Rejected) as partial:
        client.accept_order(order_id, {f"{order_id}-1": True})
    assert partial.value.code == "ORDER_LINE_ACCEPTANCE_DECISION_MISSING"
    sandbox.post("/_sandbox/settings", {"partial_acceptance": True})
    client.accept_order(order_id, {f"{order_id}-1": True, f"{order_id}-2": False})
    states = {line.order_line_id: line.state for line in sandbox.state.orders[order_id].lines}
    assert states == {f"{order_id}-1": "WAITING_DEBIT", f"{order_id}-2": "REFUSED"}


def test_cancel_and_auto_refusal(sandbox: Sandbox, client: MiraklClient) -> None:
    late = sandbox.new_order(qty=1)
    paid = sandbox.new_order(qty=1)
    client.accept_order(paid, {f"{paid}-1": True})
    sandbox.post(f"/_sandbox/orders/{paid}/debit")
    client.cancel_order(paid)
    sandbox.post("/_sandbox/clock/advance", {"seconds": 86400 + 1})
    orders = {o.order_id: o for o in client.list_orders(order_ids=[late, paid])}
    assert orders[late].order_state == "REFUSED" and orders[late].acceptance_decision_date is None
    assert orders[paid].order_state == "CANCELED"
    assert orders[paid].order_lines[0].cancelations and orders[paid].total_price == 0


# ------------------------------------------------------------------------------------ multi-shipment
def test_multi_shipment_create_list_ship(sandbox: Sandbox, client: MiraklClient) -> None:
    sandbox.post("/_sandbox/settings", {"multi_shipment": True, "auto_debit": True})
    order_id = sandbox.new_order(qty=2)
    client.accept_order(order_id, {f"{order_id}-1": True})
    line_id = f"{order_id}-1"
    tracking = models.ShipmentTrackingRequest(carrier_code="DPD", tracking_number="15501234")
    created = client.create_shipments(models.CreateShipmentsRequest(shipments=[
        models.ShipmentRequest(order_id=order_id, tracking=tracking,
                               shipment_lines=[models.ShipmentLineRequest(order_line_id=line_id, quantity=1)]),
        models.ShipmentRequest(order_id=order_id, tracking=tracking,
                               shipment_lines=[models.ShipmentLineRequest(order_line_id=line_id, quantity=5)]),
    ]))
    assert len(created.shipment_success) == 1 and "exceeds" in (created.shipment_errors[0].message or "")
    second = client.create_shipments(models.CreateShipmentsRequest(shipments=[
        models.ShipmentRequest(order_id=order_id, tracking=tracking, shipped=False,
                               shipment_lines=[models.ShipmentLineRequest(order_line_id=line_id, quantity=1)])]))
    ids = [created.shipment_success[0].id, second.shipment_success[0].id]
    listed = list(client.list_shipments(order_ids=[order_id], limit=1))
    assert [s.id for s in listed] == ids
    result = client.ship_shipments([*ids, "no-such-id"])
    assert {s.id for s in result.shipment_success} == set(ids)
    assert result.shipment_errors[0].id == "no-such-id"
    assert sandbox.state.orders[order_id].state == "SHIPPED"


# ------------------------------------------------------------------------------------ reference data, faults, calls
def test_reference_data(client: MiraklClient) -> None:
    carriers = {c.code: c for c in client.carriers()}
    assert {"ROYAL_MAIL", "DPD", "DHL", "EVRI", "PARCELFORCE", "YODEL", "UPS", "FEDEX", "DX", "APC"} <= set(carriers)
    assert all("{trackingId}" in (c.tracking_url or "") for c in carriers.values())
    assert {r.type for r in client.reasons()} >= {"REFUND", "INCIDENT_OPEN", "CANCELATION"}
    attributes = {a.code: a for a in client.attributes()}
    assert attributes["title"].is_required and attributes["title"].max_length == 150
    assert {h.code for h in client.hierarchies()} >= {"home/furniture", "fashion/men"}
    assert {v.code for v in client.value_lists("colours")[0].values} >= {"RED", "OAK"}
    account = client.account()
    assert account.currency_iso_code == "GBP" and account.shop_state == "OPEN"


def test_latency_fault_and_calls_log(sandbox: Sandbox, client: MiraklClient) -> None:
    sandbox.post("/_sandbox/faults", {"rules": [{"endpoint": "/api/shipping", "latency_ms": 1000}]})
    start = time.monotonic()
    client.carriers()
    assert time.monotonic() - start >= 1.0
    sandbox.control.delete("/_sandbox/faults")
    start = time.monotonic()
    client.reasons()
    assert time.monotonic() - start < 1.0
    calls = sandbox.calls()
    assert [(c["api"], c["method"], c["path"], c["status"]) for c in calls] == [
        ("SH21", "GET", "/api/shipping/carriers", 200), ("RE01", "GET", "/api/reasons", 200)]
    sandbox.control.delete("/_sandbox/calls")
    assert sandbox.calls() == []


def test_concurrent_orders_never_oversell_or_share_ids(sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sku = sandbox.active_sku()
    sandbox.control.put(f"/_sandbox/offers/{sku}", json={"quantity": 25})

    def buyer(_: int) -> list[str]:
        ids = []
        with httpx2.Client(base_url=sandbox.url, timeout=10) as http:
            for _ in range(10):
                response = http.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]})
                if response.status_code == 201:
                    ids.append(response.json()["order_id"])
                else:
                    assert response.status_code == 400, response.text
        return ids

    with ThreadPoolExecutor(4) as pool:
        ids = [i for batch in pool.map(buyer, range(4)) for i in batch]
    assert len(ids) == 25 and len(set(ids)) == 25
    assert sandbox.control.get(f"/_sandbox/offers/{sku}").json()["quantity"] == 0
