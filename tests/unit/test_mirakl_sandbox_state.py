"""The Mirakl simulator's rules, exercised directly on its state (no HTTP) and through the ASGI
app for bad input (never a 500)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketbridge.adapters.mirakl.csvfiles import read_csv_cells, write_csv
from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.mirakl.core import SandboxError
from marketbridge.sandbox.mirakl.state import SandboxState

KEY = "unit-key"


@pytest.fixture
def state() -> SandboxState:
    s = SandboxState(seed_catalogue(40, 7), api_key=KEY, rate_scale=0.001)
    s.settings.import_delay_seconds = 10.0  # imports only complete when the test moves the clock
    return s


def _complete(state: SandboxState) -> None:
    state.advance(11)


def _sku(state: SandboxState, qty: int = 2) -> str:
    return next(o.shop_sku for o in state.live_offers() if o.active and o.quantity >= qty and o.shop_sku.strip() == o.shop_sku)


# ------------------------------------------------------------------------------- seeding
def test_seeded_offers_follow_the_catalogue() -> None:
    catalogue = seed_catalogue(40, 7)
    s = SandboxState(catalogue)
    assert set(s.offers) == {p.marketplace_sku for p in catalogue if p.marketplace_sku}
    assert "MB-TRAILING-0001 " in s.offers and "MB-TRAILING-0001" not in s.offers
    disabled = [p.sku for p in catalogue if p.marketplace_sku and p.status == 2]
    for sku in disabled:
        assert "PRODUCT_DISABLED" in s.offers[sku].inactivity_reasons()


# ------------------------------------------------------------------------------- imports
def test_import_goes_waiting_running_complete_with_sandbox_time(state: SandboxState) -> None:
    sku = _sku(state)
    job = state.submit_import("STO01", write_csv(["offer-sku", "quantity"], [{"offer-sku": sku, "quantity": 77}]))
    assert state.sto02_json(job)["status"] == "WAITING"
    state.advance(6)
    assert state.sto02_json(job)["status"] == "RUNNING" and state.offers[sku].quantity != 77
    state.advance(5)
    assert state.sto02_json(job)["status"] == "COMPLETE" and state.offers[sku].quantity == 77


def test_of01_normal_mode_touches_only_the_columns_sent(state: SandboxState) -> None:
    sku = _sku(state)
    offer = state.offers[sku]
    price, description = offer.price, offer.description
    state.submit_import("OF01", write_csv(["sku", "quantity"], [{"sku": sku, "quantity": 3}]))
    _complete(state)
    assert offer.quantity == 3 and offer.price == price and offer.description == description


def test_of01_delete_and_replace(state: SandboxState) -> None:
    a, b = [o.shop_sku for o in state.live_offers()][:2]
    job = state.submit_import("OF01", write_csv(["sku", "update-delete"], [
        {"sku": a, "update-delete": "delete"}, {"sku": "GHOST", "update-delete": "delete"}]))
    _complete(state)
    assert state.offers[a].deleted and job.deleted == 1
    assert [(line, msg) for line, msg, _ in job.errors] == [(3, "The offer to delete does not exist")]
    replace = state.submit_import("OF01", write_csv(["sku", "price"], [{"sku": b, "price": "9.99"}]), mode="REPLACE")
    _complete(state)
    assert [o.shop_sku for o in state.live_offers()] == [b]
    assert replace.deleted == len(state.offers) - 2


def test_identical_pending_offer_import_is_deduplicated(state: SandboxState) -> None:
    content = write_csv(["sku", "quantity"], [{"sku": _sku(state), "quantity": 1}])
    first = state.submit_import("OF01", content)
    assert state.submit_import("OF01", content).import_id == first.import_id
    _complete(state)
    assert state.submit_import("OF01", content).import_id != first.import_id


def test_of24_resets_every_field_left_out(state: SandboxState) -> None:
    sku = _sku(state)
    offer = state.offers[sku]
    offer.description, offer.leadtime_to_ship, offer.discount_price = "Kept?", 5, 1.0
    state.submit_of24([{"shop_sku": sku, "product_id": offer.product.ean, "product_id_type": "EAN",
                        "price": 20.0, "state_code": "11", "update_delete": "update"}])
    _complete(state)
    assert (offer.quantity, offer.description, offer.leadtime_to_ship, offer.discount_price) == (0, "", None, None)
    assert "ZERO_QUANTITY" in offer.inactivity_reasons()


def test_price_import_rejects_bad_discounts(state: SandboxState) -> None:
    sku = _sku(state)
    job = state.submit_import("PRI01", write_csv(["offer-sku", "price", "discount-price"], [
        {"offer-sku": sku, "price": "10", "discount-price": "12"},
        {"offer-sku": sku, "price": "abc"},
        {"offer-sku": sku, "price": "10,50", "discount-price": "9"}]))
    _complete(state)
    assert [line for line, _, _ in job.errors] == [2, 3]
    assert state.offers[sku].price == 10.5 and state.offers[sku].discount_price == 9.0
    # PRI03's documented layout is positional: line number, reason, then the row (names undocumented)
    header, cells = read_csv_cells(state.error_report(job))
    assert header[:3] == ["", "", "offer-sku"] and cells[0][:3] == ["2", cells[0][1], sku] and cells[0][1]


def test_bad_files_are_rejected_up_front(state: SandboxState) -> None:
    with pytest.raises(SandboxError, match="offer-sku"):
        state.submit_import("STO01", b"sku;quantity\nA;1\n")
    with pytest.raises(SandboxError, match="empty"):
        state.submit_import("STO01", b"")


# ------------------------------------------------------------------------------- orders
def test_order_takes_stock_and_refusal_gives_it_back(state: SandboxState) -> None:
    sku = _sku(state, 3)
    before = state.offers[sku].quantity
    order = state.create_order({"lines": [{"offer_sku": sku, "quantity": 3}]})
    assert state.offers[sku].quantity == before - 3
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": False}]})
    assert order.state == "REFUSED" and state.offers[sku].quantity == before
    assert order.acceptance_decision_date is not None


def test_order_cannot_exceed_stock_or_use_inactive_offer(state: SandboxState) -> None:
    sku = _sku(state)
    with pytest.raises(SandboxError, match="only"):
        state.create_order({"lines": [{"offer_sku": sku, "quantity": 10_000}]})
    state.offers[sku].quantity = 0
    with pytest.raises(SandboxError, match="not active"):
        state.create_order({"lines": [{"offer_sku": sku, "quantity": 1}]})


def test_acceptance_deadline_refuses_automatically(state: SandboxState) -> None:
    order = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 1}]})
    state.advance(86400 - 60)
    assert order.state == "WAITING_ACCEPTANCE"
    state.advance(61)
    assert order.state == "REFUSED" and order.acceptance_decision_date is None


def _shipped(state: SandboxState, qty: int = 2, **extra: object):
    order = state.create_order({"lines": [{"offer_sku": _sku(state, qty), "quantity": qty}], **extra})
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": True}]})
    state.debit_order(order.order_id)
    state.update_tracking(order.order_id, {"carrier_code": "EVRI", "tracking_number": "H00A"})
    state.ship_order(order.order_id)
    return order


def test_refunds_are_checked_together_and_completed_later(state: SandboxState) -> None:
    order = _shipped(state)
    line = order.lines[0]
    half = round(line.price / 2, 2)
    with pytest.raises(SandboxError, match="exceeds"):
        state.refund({"refunds": [
            {"order_line_id": line.order_line_id, "amount": half, "shipping_amount": 0, "reason_code": "15"},
            {"order_line_id": line.order_line_id, "amount": half + 0.02, "shipping_amount": 0, "reason_code": "15"}]})
    assert line.refunds == []  # nothing applied when one refund of the call fails
    with pytest.raises(SandboxError, match="reason"):
        state.refund({"refunds": [{"order_line_id": line.order_line_id, "amount": 1, "shipping_amount": 0,
                                   "reason_code": "34"}]})  # a cancelation reason
    [refund] = state.refund({"refunds": [{"order_line_id": line.order_line_id, "amount": half,
                                          "shipping_amount": 0, "reason_code": "15"}]})
    assert refund.state == "WAITING_REFUND"
    state.advance(state.settings.refund_delay_seconds + 0.01)
    assert refund.state == "REFUNDED" and line.state == "SHIPPED"  # only half refunded


def test_no_refund_once_closed(state: SandboxState) -> None:
    order = _shipped(state)
    state.advance(state.settings.auto_receive_seconds + 1)
    assert order.state == "RECEIVED"
    state.advance(state.settings.close_after_receive_seconds + 1)
    assert order.state == "CLOSED"
    with pytest.raises(SandboxError, match="closed"):
        state.refund({"refunds": [{"order_line_id": order.lines[0].order_line_id, "amount": 1,
                                   "shipping_amount": 0, "reason_code": "15"}]})


def test_ship_needs_shipping_state_and_tracking_rules(state: SandboxState) -> None:
    order = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 1}], "shipping_type_code": "LRG"})
    with pytest.raises(SandboxError, match="not SHIPPING"):
        state.ship_order(order.order_id)
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": True}]})
    state.debit_order(order.order_id)
    with pytest.raises(SandboxError, match="carrier_code"):
        state.update_tracking(order.order_id, {"tracking_number": "X"})
    with pytest.raises(SandboxError, match="tracking number is required"):
        state.update_tracking(order.order_id, {"carrier_code": "DPD"})
    state.ship_order(order.order_id)  # LRG: the shipping method does not require tracking
    assert order.state == "SHIPPED"


def test_unregistered_carrier_keeps_its_name_and_url(state: SandboxState) -> None:
    order = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 1}]})
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": True}]})
    state.debit_order(order.order_id)
    state.update_tracking(order.order_id, {"carrier_name": "Bob's Vans", "carrier_url": "https://bob.example/1",
                                           "tracking_number": "1"})
    data = state.order_json(order)
    assert data["shipping_carrier_code"] is None and data["shipping_company"] == "Bob's Vans"
    assert data["shipping_tracking_url"] == "https://bob.example/1"


def test_line_cancelation_needs_the_switch(state: SandboxState) -> None:
    order = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 2}]})
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": True}]})
    body = {"cancelations": [{"order_line_id": order.lines[0].order_line_id, "amount": order.lines[0].price,
                              "shipping_amount": 0, "quantity": 2, "reason_code": "35"}]}
    with pytest.raises(SandboxError, match="not enabled"):
        state.cancel_lines(body)
    state.settings.partial_cancelation = True
    state.cancel_lines(body)
    assert order.lines[0].state == "CANCELED" and order.state == "CANCELED"
    assert state.order_json(order)["price"] == 0


def test_malformed_nested_values_are_400_not_crashes(state: SandboxState) -> None:
    sku = _sku(state)
    for body in ({"lines": [{"offer_sku": sku, "quantity": 1}], "customer": "Bob"},
                 {"lines": [{"offer_sku": sku, "quantity": 1}], "leadtime_to_ship": "2"},
                 {"lines": [{"offer_sku": sku, "quantity": 1}], "shipping_address": {"city": 5}}):
        with pytest.raises(SandboxError):
            state.create_order(body)
    order = _shipped(state)
    line_id = order.lines[0].order_line_id
    for taxes in ("VAT", [1], [{"code": "VAT", "amount": "1"}], [{"amount": 1}]):
        with pytest.raises(SandboxError, match="taxes"):
            state.refund({"refunds": [{"order_line_id": line_id, "amount": 1, "shipping_amount": 0,
                                       "reason_code": "15", "taxes": taxes}]})
    state.settings.multi_shipment = True
    paid = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 1}]})
    state.accept_order(paid.order_id, {"order_lines": [{"id": paid.lines[0].order_line_id, "accepted": True}]})
    state.debit_order(paid.order_id)
    ok, errors = state.create_shipments({"shipments": [
        {"order_id": paid.order_id, "shipment_lines": ["x"]},
        {"order_id": paid.order_id, "tracking": "DPD",
         "shipment_lines": [{"order_line_id": paid.lines[0].order_line_id, "quantity": 1}]}]})
    assert ok == [] and [e["message"] for e in errors] == ["each shipment line must be an object",
                                                           "tracking must be an object"]


def test_operator_refund_and_customer_cancel(state: SandboxState) -> None:
    order = _shipped(state)
    refunds = state.operator_refund(order.order_id, {})
    assert refunds[0].reason_code == "19" and order.lines[0].remaining() == (0.0, 0.0)
    waiting = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 1}]})
    with pytest.raises(SandboxError):
        state.cancel_order(waiting.order_id, by_shop=True)  # the shop refuses, it does not cancel
    state.cancel_order(waiting.order_id, by_shop=False, reason_code="34")
    assert waiting.state == "CANCELED"


def test_last_updated_moves_on_every_change(state: SandboxState) -> None:
    order = state.create_order({"lines": [{"offer_sku": _sku(state), "quantity": 1}]})
    stamps = [order.updated]
    state.advance(1)
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": True}]})
    stamps.append(order.updated)
    state.advance(1)
    state.debit_order(order.order_id)
    stamps.append(order.updated)
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert order.shipping_deadline and order.shipping_deadline.hour == 23


# ------------------------------------------------------------------------------- limits and faults
def test_call_frequency_answers_a_whole_number_of_seconds() -> None:
    s = SandboxState(seed_catalogue(10, 1), rate_scale=0.1)  # OR11: 6 s
    assert s.check_rate("OR11") is None
    assert s.check_rate("OR11") == 6
    assert s.check_rate("OR21") is None and s.check_rate("OR21") is None  # per business event
    assert s.check_rate("OF52") is None and s.check_rate("OF52", full_export=True) is None  # separate budgets
    assert s.check_rate("OF52", full_export=True) == 8640


def test_fault_rules_are_validated(state: SandboxState) -> None:
    for bad in ({"rules": "x"}, {"rules": [{"endpoint": "OR11", "error_rate": 2}]},
                {"rules": [{"endpoint": "OR11", "bogus": 1}]}, {"rules": [{"endpoint": ""}]}):
        with pytest.raises(SandboxError):
            state.set_faults(bad)
    state.set_faults({"rules": [{"endpoint": "OR11", "rate_limit_rate": 1, "retry_after": 3}], "seed": 1})
    decision = state.decide_fault("OR11", "/api/orders")
    assert (decision.status, decision.retry_after) == (429, 3)
    assert state.decide_fault("OR21", "/api/orders/x/accept").status is None


def test_settings_are_validated(state: SandboxState) -> None:
    with pytest.raises(SandboxError, match="Unknown"):
        state.settings.update({"nope": True})
    with pytest.raises(SandboxError):
        state.settings.update({"partial_acceptance": "yes"})
    with pytest.raises(SandboxError):
        state.settings.update({"import_delay_seconds": -1})
    state.settings.update({"mandatory_tracking": None, "import_delay_seconds": 0})
    assert state.settings.import_delay_seconds == 0.0


# ------------------------------------------------------------------------------- bad input over the app
@pytest.fixture(scope="module")
def app_client() -> TestClient:
    return TestClient(create_app(products=20, api_key=KEY, rate_scale=0.00001))


H = {"Authorization": KEY}


@pytest.mark.parametrize("method,path,kwargs,status", [
    ("GET", "/api/orders", {"params": {"max": "x"}}, 400),
    ("GET", "/api/orders", {"params": {"start_update_date": "yesterday"}}, 400),
    ("GET", "/api/orders", {"params": {"shop_id": "abc"}}, 400),
    ("GET", "/api/orders", {"params": {"order_state_codes": "SHIPPING,LOST"}}, 400),
    ("PUT", "/api/orders/JL-1-A/accept", {"content": b"{not json"}, 400),
    ("PUT", "/api/orders/refund", {"json": {"refunds": "all"}}, 400),
    ("PUT", "/api/orders/refund", {"json": [1, 2]}, 400),
    ("POST", "/api/offers/stock/imports", {"content": b"garbage", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 400),
    ("POST", "/api/offers/stock/imports", {"files": {"other": ("a.csv", b"offer-sku;quantity\n")}}, 400),
    ("POST", "/api/offers/imports", {"files": {"file": ("a.csv", b"sku;quantity\nA;1\n")}}, 400),  # no import_mode
    ("POST", "/api/offers", {"json": {"offers": [{"shop_sku": "A", "logistic_class": {"code": "M"}}]}}, 400),
    ("GET", "/api/offers/imports/999999", {}, 404),
    ("GET", "/api/unknown", {}, 404),
    ("DELETE", "/api/orders", {}, 405),
])
def test_bad_requests_get_clear_4xx(app_client: TestClient, method: str, path: str, kwargs: dict, status: int) -> None:
    headers = {**H, **kwargs.pop("headers", {})}
    response = app_client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["message"]


def test_missing_key_is_401_everywhere(app_client: TestClient) -> None:
    for path in ("/api/orders", "/api/account", "/api/unknown"):
        response = app_client.get(path, headers={"Authorization": "Bearer " + KEY})
        assert response.status_code == 401 and response.json()["status"] == 401


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["order_lines", "id", "accepted", "refunds", "order_line_id", "amount", "shipping_amount",
                         "reason_code", "shipments", "cancelations", "carrier_code", "tracking_number", "quantity",
                         "taxes", "shipping_taxes", "tracking", "shipment_lines", "order_id", "offers", "shop_sku",
                         "price", "code", "lines", "offer_sku", "customer", "shipping_address", "leadtime_to_ship"]),
        children, max_size=4),
    max_leaves=12)


ROUTES = [("PUT", "/api/orders/JL-000001-A/accept"), ("PUT", "/api/orders/JL-000001-A/tracking"),
          ("PUT", "/api/orders/refund"), ("PUT", "/api/orders/cancel"), ("PUT", "/api/shipments/ship"),
          ("POST", "/api/shipments"), ("POST", "/api/shipments/tracking"), ("POST", "/api/offers"),
          ("POST", "/api/offers/export/async"), ("POST", "/_sandbox/orders"), ("PUT", "/_sandbox/offers/MB-000001"),
          ("POST", "/_sandbox/faults"), ("POST", "/_sandbox/settings"), ("POST", "/_sandbox/clock/advance"),
          ("POST", "/_sandbox/orders/JL-000001-A/operator-refund")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=json_values)
def test_random_json_never_crashes_the_sandbox(app_client: TestClient, route: tuple[str, str], body: object) -> None:
    method, path = route
    response = app_client.request(method, path, headers=H, content=json.dumps(body))
    assert response.status_code < 500, response.text


def test_or11_offset_paging_link_header_and_legacy_paginate_false() -> None:
    app = create_app(products=20, api_key=KEY, rate_scale=0.00001)
    client = TestClient(app)
    state = app.state.sandbox
    for _ in range(5):
        state.create_order({"lines": [{"offer_sku": _sku(state, 1), "quantity": 1}]})
    first = client.get("/api/orders", headers=H, params={"max": 2})
    assert first.json()["total_count"] == 5 and len(first.json()["orders"]) == 2
    assert 'rel="next"' in first.headers["link"] and "offset=2" in first.headers["link"]
    last = client.get("/api/orders", headers=H, params={"max": 2, "offset": 4})
    assert 'rel="previous"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    everything = client.get("/api/orders", headers=H, params={"paginate": "false"})
    assert len(everything.json()["orders"]) == 5
    newest_first = client.get("/api/orders", headers=H, params={"order": "desc", "max": 1}).json()["orders"]
    assert newest_first[0]["order_id"] == "JL-000005-A"


def test_st11_seek_pages_carry_their_filters() -> None:
    app = create_app(products=20, api_key=KEY, rate_scale=0.00001)
    client = TestClient(app)
    state = app.state.sandbox
    state.settings.multi_shipment = True
    order = state.create_order({"lines": [{"offer_sku": _sku(state, 3), "quantity": 3}]})
    state.accept_order(order.order_id, {"order_lines": [{"id": order.lines[0].order_line_id, "accepted": True}]})
    state.debit_order(order.order_id)
    for _ in range(3):
        state.advance(60)
        state.create_shipments({"shipments": [{"order_id": order.order_id, "shipment_lines": [
            {"order_line_id": order.lines[0].order_line_id, "quantity": 1}]}]})
    stamps = sorted(s.updated for s in state.shipments.values())
    since = (stamps[1] - timedelta(seconds=1)).isoformat()
    first = client.get("/api/shipments", headers=H, params={"limit": 1, "last_updated_from": since,
                                                            "order_id": order.order_id}).json()
    assert len(first["data"]) == 1 and "previous_page_token" not in first
    second = client.get("/api/shipments", headers=H, params={"page_token": first["next_page_token"],
                                                             "order_id": "ignored-with-a-token"}).json()
    assert len(second["data"]) == 1 and "next_page_token" not in second
    assert {first["data"][0]["id"], second["data"][0]["id"]} == {s.id for s in state.shipments.values()
                                                                 if s.updated >= stamps[1]}
    bad = client.get("/api/shipments", headers=H, params={"page_token": "!!!"})
    assert bad.status_code == 400


def test_a_line_is_refunded_only_when_amount_and_shipping_are(state: SandboxState) -> None:
    order = _shipped(state, qty=1, shipping_price=4.5)
    line = order.lines[0]
    state.refund({"refunds": [{"order_line_id": line.order_line_id, "amount": line.price, "shipping_amount": 0,
                               "reason_code": "15"}]})
    state.advance(state.settings.refund_delay_seconds + 0.01)
    assert line.state == "SHIPPED" and state.order_json(order)["order_lines"][0]["can_refund"]
    state.refund({"refunds": [{"order_line_id": line.order_line_id, "amount": 0, "shipping_amount": 4.5,
                               "reason_code": "15"}]})
    state.advance(state.settings.refund_delay_seconds + 0.01)
    data = state.order_json(order)
    assert line.state == "REFUNDED" and data["fully_refunded"] and not data["order_lines"][0]["can_refund"]
    assert data["order_state"] == "SHIPPED"  # the order keeps the state it reached


def test_order_price_overrides(state: SandboxState) -> None:
    a, b = [o.shop_sku for o in state.live_offers() if o.active and o.quantity >= 1][:2]
    order = state.create_order({"lines": [{"offer_sku": a, "quantity": 1, "price": 3.0}, {"offer_sku": b, "quantity": 2}],
                                "price": 7.25, "currency_iso_code": "eur"})
    assert [line.price_unit for line in order.lines] == [3.0, 7.25] and order.currency == "EUR"
    data = state.order_json(order)
    assert data["price"] == 17.5 and data["shipping_price"] == 15.0 and data["total_price"] == 32.5  # 5.00 per unit under GBP 50
