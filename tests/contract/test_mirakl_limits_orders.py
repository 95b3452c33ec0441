"""The Mirakl simulator's rate limits and OR11 orders, over HTTP, as Mirakl documents them.

- 429 with ``Retry-After`` (whole seconds) for a call beyond the API's pace *or* beyond its count
  for the last hour (General Notes, "Rate limits"); External Partner keys get OR11 every 15 min
  (seller OpenAPI, OR11 "Call Frequency"); every window scales with ``rate_scale``.
- OR11 carries ``delivery_date``, ``shipping_pudo_id``, ``customer_directly_pays_seller``,
  ``invoice_details`` and line ``shipping_from`` (seller OpenAPI, ``OR11_Response_200``).
- Orders may sit in STAGING (fraud check) before WAITING_ACCEPTANCE; OR21 refuses them.
- An operator setting lets OR28 refund lines still SHIPPING, and ``can_refund`` says so.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from marketbridge.sandbox.mirakl.app import create_app

KEY = "contract-key"
H = {"Authorization": KEY}


def _app(scale: float) -> tuple[TestClient, object]:
    app = create_app(products=20, api_key=KEY, rate_scale=scale)
    return TestClient(app), app.state.sandbox


def _sku(state, quantity: int = 1) -> str:  # type: ignore[no-untyped-def]
    return next(o.shop_sku for o in state.live_offers() if o.active and o.quantity >= quantity)


# ------------------------------------------------------------------------------ rate limits
def test_external_partner_keys_get_or11_every_15_minutes() -> None:
    client, _ = _app(0.01)  # OR11: 0.6 s by default, 9 s for an External Partner
    assert client.post("/_sandbox/settings", json={"external_partner": True}).status_code == 200
    assert client.get("/api/orders", headers=H).status_code == 200
    time.sleep(0.7)  # past the default minute, well inside 15 minutes
    refused = client.get("/api/orders", headers=H)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "9"  # ceil(9 - 0.7): whole seconds, like Mirakl
    assert refused.json()["status"] == 429


def test_a_spent_hourly_count_answers_429_until_the_oldest_call_leaves_the_hour() -> None:
    client, _ = _app(0.001)  # OR11: 60 ms apart; the hour lasts 3.6 s
    limits = client.post("/_sandbox/rate-limits", json={"hourly_quotas": {"OR11": 2}})
    assert limits.status_code == 200 and limits.json()["hourly_quotas"] == {"OR11": 2}
    assert client.get("/api/orders", headers=H).status_code == 200
    time.sleep(0.1)
    assert client.get("/api/orders", headers=H).status_code == 200
    time.sleep(0.1)
    refused = client.get("/api/orders", headers=H)  # the pace is kept, the hour's count is not
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 4
    assert client.get("/api/shipping/carriers", headers=H).status_code == 200  # other APIs keep their own count


def test_rate_limit_settings_are_validated() -> None:
    client, _ = _app(0.001)
    assert client.post("/_sandbox/rate-limits", json={"intervals": {"OR11": 10}}).status_code == 400  # faster
    assert client.post("/_sandbox/rate-limits", json={"hourly_quotas": {"XX1": 3}}).status_code == 400
    assert client.post("/_sandbox/rate-limits", json={"nope": {}}).status_code == 400
    assert client.post("/_sandbox/rate-limits", json={"intervals": {"OR11": 300}}).status_code == 200
    assert client.get("/_sandbox/rate-limits").json()["intervals"] == {"OR11": 300.0}


# ------------------------------------------------------------------------------ OR11 fields
def test_or11_sends_the_documented_fields() -> None:
    client, state = _app(0.00001)
    created = client.post("/_sandbox/orders", json={"lines": [{"offer_sku": _sku(state), "quantity": 1}],
                                                    "shipping_pudo_id": "C1039"})
    assert created.status_code == 201
    order = client.get("/api/orders", headers=H).json()["orders"][0]
    assert set(order["delivery_date"]) == {"earliest", "latest"}
    assert order["delivery_date"]["earliest"] < order["delivery_date"]["latest"]
    assert order["shipping_pudo_id"] == "C1039"
    assert order["customer_directly_pays_seller"] is False
    assert "invoice_details" in order and "has_invoice" in order and "can_cancel" in order
    line = order["order_lines"][0]
    assert line["shipping_from"]["address"]["country_iso_code"] == "GBR" and "warehouse" in line["shipping_from"]
    assert line["can_refund"] is False  # not shipped


# ------------------------------------------------------------------------------ STAGING
def test_orders_sit_in_staging_until_the_fraud_check_clears() -> None:
    client, state = _app(0.00001)
    client.post("/_sandbox/settings", json={"staging_seconds": 600})
    order_id = client.post("/_sandbox/orders", json={"lines": [{"offer_sku": _sku(state), "quantity": 1}]}).json()["order_id"]
    staged = client.get(f"/_sandbox/orders/{order_id}").json()
    assert staged["order_state"] == "STAGING" and staged["can_cancel"] is False
    assert staged["customer"]["shipping_address"] is None
    assert {line["order_line_state"] for line in staged["order_lines"]} == {"STAGING"}
    line_id = staged["order_lines"][0]["order_line_id"]
    refused = client.put(f"/api/orders/{order_id}/accept", headers=H,
                         json={"order_lines": [{"id": line_id, "accepted": True}]})
    assert refused.status_code == 400 and refused.json()["code"] == "ORDER_INVALID_STATE"
    client.post("/_sandbox/clock/advance", json={"seconds": 601})
    assert client.get(f"/_sandbox/orders/{order_id}").json()["order_state"] == "WAITING_ACCEPTANCE"
    accepted = client.put(f"/api/orders/{order_id}/accept", headers=H,
                          json={"order_lines": [{"id": line_id, "accepted": True}]})
    assert accepted.status_code == 204


# ------------------------------------------------------------------------------ refunds while SHIPPING
@pytest.mark.parametrize("allowed", [False, True])
def test_refunds_while_shipping_follow_the_operator_setting(allowed: bool) -> None:
    client, state = _app(0.00001)
    client.post("/_sandbox/settings", json={"refund_while_shipping": allowed})
    order_id = client.post("/_sandbox/orders", json={"lines": [{"offer_sku": _sku(state), "quantity": 1}]}).json()["order_id"]
    line_id = client.get(f"/_sandbox/orders/{order_id}").json()["order_lines"][0]["order_line_id"]
    client.put(f"/api/orders/{order_id}/accept", headers=H, json={"order_lines": [{"id": line_id, "accepted": True}]})
    client.post(f"/_sandbox/orders/{order_id}/debit")
    order = client.get(f"/_sandbox/orders/{order_id}").json()
    assert order["order_state"] == "SHIPPING" and order["order_lines"][0]["can_refund"] is allowed
    refund = client.put("/api/orders/refund", headers=H, json={"refunds": [
        {"order_line_id": line_id, "amount": 1.0, "shipping_amount": 0, "reason_code": "16", "quantity": 1}]})
    assert refund.status_code == (200 if allowed else 400)


# ------------------------------------------------------------------------------ the call log
def test_the_call_log_keeps_each_calls_query_so_pages_and_reads_by_id_can_be_told_apart() -> None:
    """The benchmarks count OR11 reads a minute and 429s from ``/_sandbox/calls``: a follow-up page
    (not counted against the pace) and a read by ``order_ids`` must be told from a listing."""
    client, state = _app(0.05)  # OR11 every 3 s: the read by id comes well inside it on a busy machine
    for _ in range(3):           # (at 0.001, 60 ms, the PostgreSQL tier saw it answered 200 once)
        client.post("/_sandbox/orders", json={"lines": [{"offer_sku": _sku(state), "quantity": 1}]})
    client.delete("/_sandbox/calls")
    assert client.get("/api/orders", headers=H, params={"max": 2}).status_code == 200
    assert client.get("/api/orders", headers=H, params={"max": 2, "offset": 2}).status_code == 200  # a page
    refused = client.get("/api/orders", headers=H, params={"order_ids": "X-1"})  # too soon after the listing
    assert refused.status_code == 429

    calls = client.get("/_sandbox/calls").json()
    assert [(c["api"], c["query"], c["status"]) for c in calls] == [
        ("OR11", "max=2", 200), ("OR11", "max=2&offset=2", 200), ("OR11", "order_ids=X-1", 429)]
    assert all(c["path"] == "/api/orders" and c["at"].endswith("Z") for c in calls)
