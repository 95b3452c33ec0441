"""The Adobe Commerce simulator over real HTTP: MSI, carts, documents, errors, searchCriteria, webhooks."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from marketbridge.adapters.magento.webhooks import SIGNATURE_HEADER, parse_envelope, verify_signature
from marketbridge.sandbox.magento.testing import ADDRESS, place_cart_order, rest_client, running_sandbox
from marketbridge.sandbox.server import serve_in_thread
from tests.reference import REFERENCE_ROOT, requires_reference

FIXTURE = REFERENCE_ROOT / "magento" / "fixtures" / "msi-api-functional-fixture.json"


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(products=120) as (server, app):
        yield server, app


@pytest.fixture()
def http(sandbox):
    server, _ = sandbox
    with rest_client(server) as client:
        yield client


def enable_checkout(server, **config) -> None:
    """Switch payment methods or carriers on, as a merchant does in the store's configuration."""
    httpx2.post(f"{server.url}/_sandbox/checkout-config", json=config).raise_for_status()


def set_stock(server, sku: str, qty: float, source: str = "default") -> None:
    httpx2.post(
        f"{server.url}/_sandbox/stock", json={"sku": sku, "qty": qty, "source_code": source}
    ).raise_for_status()


def salable(http: httpx2.Client, sku: str, stock: int = 1) -> float:
    response = http.get(f"/V1/inventory/get-product-salable-quantity/{sku}/{stock}")
    assert response.status_code == 200, response.text
    return float(response.json())


def new_sku(server, sku: str, qty: float, price: float = 20.0) -> str:
    response = httpx2.post(f"{server.url}/_sandbox/products", json={"sku": sku, "qty": qty, "price": price})
    assert response.status_code == 200, response.text
    return sku


# --------------------------------------------------------------------------- MSI
@requires_reference
def test_msi_functional_fixture_gives_documented_salable_quantities(http):
    fixture = json.loads(FIXTURE.read_text())
    for sku in sorted({item["sku"] for item in fixture["source_items"]} | {"SKU-5"}):
        product = {"sku": sku, "name": sku, "price": 10, "type_id": "simple", "attribute_set_id": 4}
        assert http.post("/V1/products", json={"product": product}).status_code == 200
    for source in fixture["sources"]:
        assert http.post("/V1/inventory/sources", json={"source": source}).status_code == 200, source
    for stock in fixture["stocks"]:
        response = http.post("/V1/inventory/stocks", json={"stock": stock})
        assert response.json() == stock["stock_id"]
    assert (
        http.post("/V1/inventory/stock-source-links", json={"links": fixture["stock_source_links"]}).json()
        == []
    )
    assert http.post("/V1/inventory/source-items", json={"sourceItems": fixture["source_items"]}).json() == []

    for case in fixture["expected"]["GET /V1/inventory/get-product-salable-quantity/{sku}/{stockId}"]:
        assert salable(http, case["sku"], case["stockId"]) == case["result"], case
    key = next(
        k
        for k in fixture["expected"]
        if k.startswith("GET /V1/inventory/is-product-salable-for-requested-qty")
    )
    for case in fixture["expected"][key]:
        url = f"/V1/inventory/is-product-salable-for-requested-qty/{case['sku']}/{case['stockId']}/{case['requestedQty']}"
        assert http.get(url).json()["salable"] is case["salable"], case
    # the disabled source and the out-of-stock item are listed, yet never counted
    items = http.get(
        "/V1/inventory/source-items",
        params={
            "searchCriteria[filter_groups][0][filters][0][field]": "sku",
            "searchCriteria[filter_groups][0][filters][0][value]": "SKU-1",
        },
    ).json()
    assert items["total_count"] == 4


def test_cart_order_reserves_and_direct_order_does_not(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-RESERVE", 10)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 3}])
    assert salable(http, sku) == 7
    assert http.get(f"/V1/stockItems/{sku}").json()["qty"] == 10  # legacy qty = physical, not salable

    entity = {
        "customer_email": "direct@example.invalid",
        "base_grand_total": 20,
        "grand_total": 20,
        "billing_address": {**ADDRESS, "address_type": "billing"},
        "items": [{"sku": sku, "name": "x", "qty_ordered": 2, "price": 10}],
        "payment": {"method": "checkmo"},
    }
    direct = http.post("/V1/orders", json={"entity": entity})
    assert direct.status_code == 200, direct.text
    assert direct.json()["increment_id"].isdigit() and len(direct.json()["increment_id"]) == 9
    assert salable(http, sku) == 7  # POST /V1/orders reserves nothing (#26575)
    assert http.get(f"/V1/orders/{order_id}").json()["state"] == "new"


def test_ship_deducts_source_and_compensates_reservation(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-SHIP", 5)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 2}])
    assert salable(http, sku) == 3
    http.post(f"/V1/order/{order_id}/invoice", json={"capture": True}).raise_for_status()
    ship = http.post(
        f"/V1/order/{order_id}/ship",
        json={"tracks": [{"track_number": "JD1", "title": "DPD", "carrier_code": "dpd"}]},
    )
    assert ship.status_code == 200, ship.text
    assert salable(http, sku) == 3  # unchanged: source -2, reservation +2
    assert http.get(f"/V1/stockItems/{sku}").json()["qty"] == 3
    order = http.get(f"/V1/orders/{order_id}").json()
    assert (order["state"], order["status"]) == ("complete", "complete")
    shipment = http.get(f"/V1/shipment/{int(ship.json())}").json()
    assert shipment["tracks"][0]["track_number"] == "JD1"
    assert shipment["extension_attributes"]["source_code"] == "default"

    again = http.post(f"/V1/order/{order_id}/ship", json={})
    assert again.status_code == 400
    assert again.json()["message"].startswith("Shipment Document Validation Error(s):\n")


def test_over_shipping_one_line_is_refused(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-OVERSHIP", 5)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 2}])
    item_id = http.get(f"/V1/orders/{order_id}").json()["items"][0]["item_id"]
    response = http.post(f"/V1/order/{order_id}/ship", json={"items": [{"order_item_id": item_id, "qty": 3}]})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Shipment Document Validation Error(s):\n"
        'The quantity to ship must not be greater than the unshipped quantity for product SKU "MB-T-OVERSHIP".\n'
        "You can't create a shipment without products."
    )
    partial = http.post(f"/V1/order/{order_id}/ship", json={"items": [{"order_item_id": item_id, "qty": 1}]})
    assert partial.status_code == 200
    assert http.get(f"/V1/orders/{order_id}").json()["state"] == "processing"


def test_cancel_compensates_and_hold_blocks(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-CANCEL", 4)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 4}])
    assert salable(http, sku) == 0
    assert http.post(f"/V1/orders/{order_id}/hold").json() is True
    held = http.post(f"/V1/order/{order_id}/invoice", json={})
    assert held.status_code == 400 and "holded" in held.json()["message"]
    assert http.post(f"/V1/orders/{order_id}/cancel").json() is False  # holded orders cannot be canceled
    assert http.post(f"/V1/orders/{order_id}/unhold").json() is True
    assert http.post(f"/V1/orders/{order_id}/cancel").json() is True
    assert salable(http, sku) == 4
    assert http.get(f"/V1/orders/{order_id}").json()["state"] == "canceled"


def test_partial_then_full_credit_memo_and_shipping_amount_default(sandbox, http):
    server, _ = sandbox
    sku_a = new_sku(server, "MB-T-REFUND-A", 10, price=30)
    sku_b = new_sku(server, "MB-T-REFUND-B", 10, price=12.5)
    order_id = place_cart_order(http, [{"sku": sku_a, "qty": 1}, {"sku": sku_b, "qty": 2}])
    order = http.get(f"/V1/orders/{order_id}").json()
    assert order["shipping_amount"] == 15  # flat rate 5 per item
    http.post(f"/V1/order/{order_id}/invoice", json={"capture": True}).raise_for_status()
    http.post(f"/V1/order/{order_id}/ship", json={}).raise_for_status()
    item_a, item_b = (i["item_id"] for i in order["items"])

    # partial, items only: shipping_amount 0 must be sent explicitly
    memo_id = http.post(
        f"/V1/order/{order_id}/refund",
        json={
            "items": [{"order_item_id": item_b, "qty": 1}],
            "arguments": {"shipping_amount": 0, "adjustment_positive": 1, "adjustment_negative": 2},
        },
    ).json()
    memo = http.get(f"/V1/creditmemo/{int(memo_id)}").json()
    assert (memo["subtotal"], memo["shipping_amount"], memo["grand_total"]) == (12.5, 0, 11.5)
    assert memo["adjustment"] == -1
    order = http.get(f"/V1/orders/{order_id}").json()
    assert order["state"] == "complete" and order["total_refunded"] == 11.5

    over = http.post(f"/V1/order/{order_id}/refund", json={"items": [{"order_item_id": item_b, "qty": 2}]})
    assert over.status_code == 400
    assert (
        "The quantity to refund must not be greater than the unrefunded quantity." in over.json()["message"]
    )
    too_much = http.post(
        f"/V1/order/{order_id}/refund",
        json={
            "items": [{"order_item_id": item_a, "qty": 1}],
            "arguments": {"shipping_amount": 0, "adjustment_positive": 500},
        },
    )
    assert (
        too_much.status_code == 400 and "The most money available to refund is" in too_much.json()["message"]
    )

    # the rest, shipping_amount omitted: the remaining shipping (15) is refunded automatically;
    # the 1.00 withheld by the first memo's net adjustment is given back as a positive adjustment
    last = http.post(
        f"/V1/order/{order_id}/refund",
        json={
            "items": [{"order_item_id": item_a, "qty": 1}, {"order_item_id": item_b, "qty": 1}],
            "arguments": {"adjustment_positive": 1},
        },
    )
    assert last.status_code == 200, last.text
    memo = http.get(f"/V1/creditmemo/{int(last.json())}").json()
    assert memo["shipping_amount"] == 15 and memo["grand_total"] == 30 + 12.5 + 15 + 1
    order = http.get(f"/V1/orders/{order_id}").json()
    assert (order["state"], order["status"]) == ("closed", "closed")
    closed = http.post(f"/V1/order/{order_id}/refund", json={})
    assert closed.status_code == 400 and "closed" in closed.json()["message"]


def test_refund_of_unshipped_qty_compensates_reservation(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-REFUND-UNSHIPPED", 6)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 2}])
    http.post(f"/V1/order/{order_id}/invoice", json={}).raise_for_status()
    assert salable(http, sku) == 4
    http.post(f"/V1/order/{order_id}/refund", json={}).raise_for_status()
    assert salable(http, sku) == 6


def test_configurable_bundle_and_custom_option_lines(sandbox, http):
    parent = http.get("/V1/products/MB-CFG-0001").json()
    options = parent["extension_attributes"]["configurable_product_options"]
    chosen = [
        {"option_id": o["attribute_id"], "option_value": o["values"][0]["value_index"]} for o in options
    ]
    children = http.get("/V1/configurable-products/MB-CFG-0001/children").json()
    bundle = http.get("/V1/bundle-products/MB-BUNDLE-0001/options/all").json()
    selections = [
        {
            "option_id": o["option_id"],
            "option_qty": 1,
            "option_selections": [int(o["product_links"][0]["id"])],
        }
        for o in bundle
    ]
    for child in children:  # every part in stock, whatever the seed gave them
        set_stock(sandbox[0], child["sku"], 5)
    for option in bundle:
        for link in option["product_links"]:
            set_stock(sandbox[0], link["sku"], 5)
    missing = http.post("/V1/carts/", json=None).json()
    refused = http.post(
        f"/V1/carts/{missing}/items",
        json={"cartItem": {"sku": "MB-ENGRAVED-0001", "qty": 1, "quote_id": str(missing)}},
    )
    assert refused.status_code == 400 and "required option" in refused.json()["message"]
    option_id = http.get("/V1/products/MB-ENGRAVED-0001/options").json()[0]["option_id"]
    order_id = place_cart_order(
        http,
        [
            {
                "sku": "MB-CFG-0001",
                "qty": 1,
                "product_option": {"extension_attributes": {"configurable_item_options": chosen}},
            },
            {
                "sku": "MB-BUNDLE-0001",
                "qty": 1,
                "product_option": {"extension_attributes": {"bundle_options": selections}},
            },
            {
                "sku": "MB-ENGRAVED-0001",
                "qty": 1,
                "product_option": {
                    "extension_attributes": {
                        "custom_options": [{"option_id": str(option_id), "option_value": "For Ada"}]
                    }
                },
            },
        ],
    )
    order = http.get(f"/V1/orders/{order_id}").json()
    types = [(i["product_type"], i["parent_item_id"] is not None) for i in order["items"]]
    assert (
        ("configurable", False) in types
        and ("bundle", False) in types
        and types.count(("simple", True)) == 1 + len(bundle)
    )
    engraved = next(i for i in order["items"] if i["sku"] == "MB-ENGRAVED-0001")
    assert (
        engraved["product_option"]["extension_attributes"]["custom_options"][0]["option_value"] == "For Ada"
    )
    child_skus = {c["sku"] for c in children}
    cfg_child = next(i for i in order["items"] if i["sku"] in child_skus and i["parent_item_id"])
    assert cfg_child["price"] == 0


# --------------------------------------------------------------------------- errors and routing
def test_auth_routing_and_malformed_json(sandbox, http):
    server, _ = sandbox
    anonymous = httpx2.get(f"{server.url}/rest/all/V1/orders/1")
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Sales::actions_view"},
    }
    wrong = httpx2.get(f"{server.url}/rest/all/V1/orders/1", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert http.get(f"{server.url}/rest/nowhere/V1/products/MB-000001").json() == {
        "message": "Request does not match any route."
    }
    assert http.get("/V1/no-such-thing").status_code == 404
    assert http.delete("/V1/orders").status_code == 404  # no such method on the route
    bad = http.post("/V1/orders", content=b'{"entity": ', headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.json()) == (400, {"message": "Decoding error."})
    missing = http.post("/V1/orders", json={})
    assert missing.status_code == 400
    assert missing.json() == {
        "message": '"%fieldName" is required. Enter and try again.',
        "parameters": {"fieldName": "entity"},
    }
    absent = http.get("/V1/products/NO-SUCH-SKU")
    assert absent.status_code == 404 and "product that was requested" in absent.json()["message"]
    assert http.get("/V1/orders/999999").status_code == 404
    no_criteria = http.get("/V1/orders")
    assert no_criteria.status_code == 400 and no_criteria.json()["parameters"] == {
        "fieldName": "searchCriteria"
    }
    validation = http.post(
        "/V1/inventory/source-items",
        json={"sourceItems": [{"sku": "", "source_code": "default", "quantity": 1, "status": 3}]},
    )
    assert validation.status_code == 400 and validation.json()["message"] == "Validation Failed"
    assert len(validation.json()["errors"]) == 2
    typed = http.post(
        "/V1/inventory/source-items",
        json={"sourceItems": [{"sku": "X", "source_code": "default", "quantity": "test", "status": 1}]},
    )
    assert typed.status_code == 400 and typed.json()["parameters"]["field_name"] == "quantity"
    composite = http.get("/V1/inventory/get-product-salable-quantity/MB-CFG-0001/1")
    assert composite.status_code == 400
    # the guest flow is anonymous
    assert httpx2.post(f"{server.url}/rest/default/V1/guest-carts").status_code == 200


def test_search_criteria_cases(sandbox, http):
    def search(params: dict[str, Any]) -> dict[str, Any]:
        response = http.get("/V1/products", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    g = "searchCriteria[filter_groups]"
    both = search(
        {
            f"{g}[0][filters][0][field]": "sku",
            f"{g}[0][filters][0][value]": "MB-00000%",
            f"{g}[0][filters][0][condition_type]": "like",
            f"{g}[1][filters][0][field]": "type_id",
            f"{g}[1][filters][0][value]": "simple",
            "searchCriteria[sortOrders][0][field]": "sku",
            "searchCriteria[sortOrders][0][direction]": "DESC",
            "searchCriteria[pageSize]": "3",
            "searchCriteria[currentPage]": "1",
        }
    )
    assert both["total_count"] == 9
    assert [p["sku"] for p in both["items"]] == ["MB-000009", "MB-000008", "MB-000007"]
    assert both["search_criteria"]["page_size"] == 3
    assert both["search_criteria"]["sort_orders"] == [{"field": "sku", "direction": "DESC"}]
    camel = search(
        {
            "searchCriteria[filterGroups][0][filters][0][field]": "sku",
            "searchCriteria[filterGroups][0][filters][0][value]": "MB-000001,MB-000002",
            "searchCriteria[filterGroups][0][filters][0][conditionType]": "in",
            "searchCriteria[filterGroups][0][filters][1][field]": "sku",
            "searchCriteria[filterGroups][0][filters][1][value]": "MB-000003",
        }
    )
    assert sorted(p["sku"] for p in camel["items"]) == [
        "MB-000001",
        "MB-000002",
        "MB-000003",
    ]  # OR within a group
    past = search({"searchCriteria[pageSize]": "50", "searchCriteria[currentPage]": "99"})
    assert past["items"] == [] and past["total_count"] == len(
        sandbox[1].state.sandbox.products
    )  # 2.4: empty page
    zero = search({"searchCriteria[pageSize]": "2", "searchCriteria[currentPage]": "0"})
    assert len(zero["items"]) == 2
    for condition, value, expected in [
        ("gt", "300", lambda p: p["price"] > 300),
        ("lteq", "10", lambda p: p["price"] <= 10),
        ("neq", "1", lambda p: p["status"] != 1),
    ]:
        field = "status" if condition == "neq" else "price"
        result = search(
            {
                f"{g}[0][filters][0][field]": field,
                f"{g}[0][filters][0][value]": value,
                f"{g}[0][filters][0][condition_type]": condition,
            }
        )
        assert result["items"] and all(expected(p) for p in result["items"]), condition
    nin = search(
        {
            f"{g}[0][filters][0][field]": "type_id",
            f"{g}[0][filters][0][value]": "simple,virtual",
            f"{g}[0][filters][0][condition_type]": "nin",
        }
    )
    assert {p["type_id"] for p in nin["items"]} == {"configurable", "bundle"}
    special = search(
        {
            f"{g}[0][filters][0][field]": "special_price",
            f"{g}[0][filters][0][value]": "",
            f"{g}[0][filters][0][condition_type]": "notnull",
        }
    )
    assert special["items"] and all(
        any(a["attribute_code"] == "special_price" for a in p["custom_attributes"]) for p in special["items"]
    )
    bad = http.get(
        "/V1/products",
        params={
            f"{g}[0][filters][0][field]": "sku",
            f"{g}[0][filters][0][value]": "x",
            f"{g}[0][filters][0][condition_type]": "approx",
        },
    )
    assert bad.status_code == 400


def test_ext_order_id_is_settable_and_searchable(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-EXT", 3)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 1}])
    order = http.get(f"/V1/orders/{order_id}").json()
    saved = http.post(
        "/V1/orders",
        json={
            "entity": {
                "entity_id": order_id,
                "increment_id": order["increment_id"],
                "ext_order_id": "JL-123-A",
            }
        },
    )
    assert saved.json()["increment_id"] == order["increment_id"]
    found = http.get(
        "/V1/orders",
        params={
            "searchCriteria[filter_groups][0][filters][0][field]": "ext_order_id",
            "searchCriteria[filter_groups][0][filters][0][value]": "JL-123-A",
        },
    ).json()
    assert [o["entity_id"] for o in found["items"]] == [order_id]
    assert (
        http.post(
            f"/V1/orders/{order_id}/comments", json={"statusHistory": {"comment": "Mirakl JL-123-A"}}
        ).json()
        is True
    )
    comments = http.get(f"/V1/orders/{order_id}/comments").json()
    assert comments["items"][0]["comment"] == "Mirakl JL-123-A"
    partial = http.get(
        "/V1/orders",
        params={
            "searchCriteria[filter_groups][0][filters][0][field]": "ext_order_id",
            "searchCriteria[filter_groups][0][filters][0][value]": "JL-123-A",
            "fields": "items[entity_id,ext_order_id],total_count",
        },
    ).json()
    assert partial == {"items": [{"entity_id": order_id, "ext_order_id": "JL-123-A"}], "total_count": 1}
    assert http.get(f"/V1/orders/{order_id}", params={"fields": "items[sku"}).status_code == 400


def test_track_added_later_and_faults(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-TRACK", 3)
    order_id = place_cart_order(http, [{"sku": sku, "qty": 1}])
    shipment = httpx2.post(f"{server.url}/_sandbox/ship", json={"order_id": order_id}).json()
    track = http.post(
        "/V1/shipment/track",
        json={
            "entity": {
                "order_id": order_id,
                "parent_id": shipment["entity_id"],
                "track_number": "RM1",
                "title": "Royal Mail",
                "carrier_code": "royalmail",
                "weight": None,
                "qty": None,
                "description": None,
            }
        },
    )
    assert track.status_code == 200 and track.json()["parent_id"] == shipment["entity_id"]
    assert http.get(f"/V1/shipment/{shipment['entity_id']}").json()["tracks"][0]["track_number"] == "RM1"

    httpx2.post(
        f"{server.url}/_sandbox/faults",
        json={"rules": [{"endpoint": "/V1/shipments", "rate_limit_rate": 1, "retry_after": 7}], "seed": 1},
    )
    try:
        limited = http.get("/V1/shipments", params={"searchCriteria": ""})
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
        assert http.get(f"/V1/shipment/{shipment['entity_id']}").status_code == 200  # other routes unaffected
    finally:
        httpx2.delete(f"{server.url}/_sandbox/faults")
    calls = httpx2.get(f"{server.url}/_sandbox/calls").json()
    assert {"api": "GET /V1/shipments", "status": 429} in [
        {"api": c["api"], "status": c["status"]} for c in calls
    ]


# --------------------------------------------------------------------------- webhooks
def test_webhooks_are_signed_and_verifiable(tmp_path):
    """Each hook to its own URL (``<webhook_url>/<hook>``), in the shape of its type: a plugin
    hook sends the method's arguments without ``eventName``; an observer ``eventName``/``data``."""
    received: list[tuple[bytes, str]] = []
    hooks: list[str] = []
    arrived = threading.Event()
    receiver = FastAPI()

    @receiver.post("/hook/{name}")
    async def hook(request: Request, name: str):
        hooks.append(name)
        received.append((await request.body(), request.headers.get(SIGNATURE_HEADER, "")))
        if len(received) >= 3:
            arrived.set()
        return JSONResponse({"op": "success"})

    receiver_server = serve_in_thread(receiver)
    key_path = tmp_path / "keys" / "webhook.pem"
    try:
        with running_sandbox(
            products=40, webhook_url=receiver_server.url + "/hook", webhook_private_key_path=str(key_path)
        ) as (server, _):
            public = (tmp_path / "keys" / "webhook.pem.pub").read_bytes()
            assert b"BEGIN PUBLIC KEY" in public
            with rest_client(server) as http:
                set_stock(server, "MB-000001", 9)
                order_id = place_cart_order(http, [{"sku": "MB-000001", "qty": 1}])
                http.post(f"/V1/order/{order_id}/invoice", json={}).raise_for_status()
                http.post(
                    f"/V1/order/{order_id}/ship",
                    json={"tracks": [{"track_number": "T9", "title": "DPD", "carrier_code": "dpd"}]},
                ).raise_for_status()
                http.post(f"/V1/order/{order_id}/refund", json={}).raise_for_status()
                http.put(
                    "/V1/products/MB-000002", json={"product": {"sku": "MB-000002", "price": 12.5}}
                ).raise_for_status()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(received) < 7:
                time.sleep(0.05)
    finally:
        receiver_server.stop()
    names = [parse_envelope(body, hook)[0] for (body, _), hook in zip(received, hooks, strict=True)]
    plugin = json.loads(received[names.index("plugin.magento.inventory_api.api.source_items_save.execute")][0])
    assert "eventName" not in plugin and plugin["subject"] == [] and plugin["sourceItems"][0]["sku"] == "MB-000001"
    for expected in (
        "plugin.magento.inventory_api.api.source_items_save.execute",
        "observer.sales_order_shipment_save_after",
        "observer.sales_order_shipment_track_save_after",
        "observer.sales_order_creditmemo_save_after",
        "observer.catalog_product_save_after",
    ):
        assert expected in names
    for body, signature in received:
        assert verify_signature(body, signature, public)
    body, signature = received[names.index("observer.sales_order_shipment_save_after")]
    name, data = parse_envelope(body)
    assert data["shipment"]["order_id"] == order_id
    tampered = body.replace(b'"order_id":', b'"order_id":1', 1)
    assert not verify_signature(tampered, signature, public)
    assert not verify_signature(body, "not base64!", public)
    # a second start re-uses the same key pair
    assert key_path.exists()


@pytest.mark.slow
def test_hundred_thousand_products_serve_salable_reads_and_keyset_pages():
    """Functional check at full size; the timings live in bench/ (they are not assertions here)."""
    with running_sandbox(products=100_000) as (server, app):
        with rest_client(server) as http:
            assert http.get("/V1/inventory/get-product-salable-quantity/MB-080000/1").status_code == 200
            page = http.get(
                "/V1/products",
                params={
                    "searchCriteria[filter_groups][0][filters][0][field]": "entity_id",
                    "searchCriteria[filter_groups][0][filters][0][value]": "90000",
                    "searchCriteria[filter_groups][0][filters][0][condition_type]": "gt",
                    "searchCriteria[sortOrders][0][field]": "entity_id",
                    "searchCriteria[pageSize]": "200",
                },
            ).json()
            assert len(page["items"]) == 200 and page["items"][0]["id"] == 90001
    assert len(app.state.sandbox.products) >= 100_000


def test_invoice_refund_only_for_online_methods_and_warehouse_creditmemo(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-ONLINE", 5, price=10)
    offline = place_cart_order(http, [{"sku": sku, "qty": 1}])
    invoice_id = http.post(f"/V1/order/{offline}/invoice", json={}).json()
    refused = http.post(f"/V1/invoice/{int(invoice_id)}/refund", json={"isOnline": True})
    assert refused.status_code == 400
    assert refused.json()["message"].endswith("We can't create creditmemo for the invoice.")

    enable_checkout(server, payment_methods={"sandbox_gateway": True})  # the merchant's card gateway
    online = place_cart_order(http, [{"sku": sku, "qty": 2}], payment="sandbox_gateway")
    invoice_id = int(http.post(f"/V1/order/{online}/invoice", json={"capture": True}).json())
    item_id = http.get(f"/V1/orders/{online}").json()["items"][0]["item_id"]
    memo = http.post(
        f"/V1/invoice/{invoice_id}/refund",
        json={
            "items": [{"order_item_id": item_id, "qty": 1}],
            "isOnline": True,
            "arguments": {"shipping_amount": 0},
        },
    )
    assert memo.status_code == 200, memo.text
    assert http.get(f"/V1/creditmemo/{int(memo.json())}").json()["invoice_id"] == invoice_id
    listed = http.get(
        "/V1/creditmemos",
        params={
            "searchCriteria[filter_groups][0][filters][0][field]": "invoice_id",
            "searchCriteria[filter_groups][0][filters][0][value]": str(invoice_id),
        },
    ).json()
    assert listed["total_count"] == 1

    # the warehouse refunds the rest through the control API (remaining shipping included)
    rest = httpx2.post(f"{server.url}/_sandbox/creditmemo", json={"order_id": online})
    assert rest.status_code == 200, rest.text
    assert rest.json()["shipping_amount"] == 10
    assert http.get(f"/V1/orders/{online}").json()["state"] == "closed"


def test_legacy_stock_item_writes_the_default_source(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-LEGACY", 2)
    set_stock(server, sku, 3, "warehouse-2")
    assert (
        http.put(
            f"/V1/products/{sku}/stockItems/999", json={"stockItem": {"qty": 7, "is_in_stock": True}}
        ).status_code
        == 200
    )
    items = {
        i["source_code"]: i["quantity"]
        for i in http.get(
            "/V1/inventory/source-items",
            params={
                "searchCriteria[filter_groups][0][filters][0][field]": "sku",
                "searchCriteria[filter_groups][0][filters][0][value]": sku,
            },
        ).json()["items"]
    }
    assert items == {"default": 7, "warehouse-2": 3}
    assert salable(http, sku) == 10
    assert http.get(f"/V1/stockItems/{sku}").json()["qty"] == 7
    out = http.put(f"/V1/products/{sku}", json={"product": {"sku": sku, "status": 2}})
    assert out.json()["status"] == 2
    assert http.get(f"/V1/inventory/is-product-salable/{sku}/1").json() is False


def test_customer_cart_and_comment_status_rules(sandbox, http):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-CUSTOMER", 4)
    cart = http.post("/V1/customers/1/carts").json()
    assert http.post("/V1/customers/1/carts").json() == cart  # the customer's active cart is reused
    assert http.post("/V1/customers/999/carts").status_code == 404
    http.post(
        f"/V1/carts/{cart}/items", json={"cartItem": {"sku": sku, "qty": 1, "quote_id": str(cart)}}
    ).raise_for_status()
    too_many = http.post(
        f"/V1/carts/{cart}/items", json={"cartItem": {"sku": sku, "qty": 4, "quote_id": str(cart)}}
    )
    assert too_many.status_code == 400 and too_many.json()["message"] == "The requested qty is not available"
    info = {
        "shipping_address": ADDRESS,
        "billing_address": ADDRESS,
        "shipping_carrier_code": "ups",
        "shipping_method_code": "ground",
    }
    # Magento's ShippingInformationManagement: NoSuchEntityException, i.e. 404
    unknown = http.post(f"/V1/carts/{cart}/shipping-information", json={"addressInformation": info})
    assert unknown.status_code == 404 and unknown.json()["parameters"] == ["ups", "ground"]
    info.update(shipping_carrier_code="freeshipping", shipping_method_code="freeshipping")
    disabled = http.post(f"/V1/carts/{cart}/shipping-information", json={"addressInformation": info})
    assert disabled.status_code == 404  # inactive on a fresh store
    enable_checkout(server, payment_methods={"banktransfer": True}, carriers={"freeshipping": True})
    totals = http.post(f"/V1/carts/{cart}/shipping-information", json={"addressInformation": info}).json()[
        "totals"
    ]
    assert totals["shipping_amount"] == 0
    order_id = int(
        http.put(f"/V1/carts/{cart}/order", json={"paymentMethod": {"method": "banktransfer"}}).json()
    )
    order = http.get(f"/V1/orders/{order_id}").json()
    assert order["customer_is_guest"] == 0 and order["customer_id"] == 1
    placed_cart = http.get(f"/V1/carts/{cart}").json()
    assert placed_cart["is_active"] is False and placed_cart["reserved_order_id"] == order["increment_id"]
    assert (
        http.put(f"/V1/carts/{cart}/order", json={"paymentMethod": {"method": "checkmo"}}).status_code == 404
    )
    wrong = http.post(
        f"/V1/orders/{order_id}/comments", json={"statusHistory": {"comment": "x", "status": "complete"}}
    )
    assert wrong.status_code == 400


def test_concurrent_cart_orders_never_oversell(sandbox):
    server, _ = sandbox
    sku = new_sku(server, "MB-T-RACE", 5)
    results: list[int] = []

    def buy() -> None:
        with rest_client(server) as client:
            try:
                place_cart_order(client, [{"sku": sku, "qty": 1}])
                results.append(1)
            except httpx2.HTTPStatusError as error:
                assert error.response.status_code == 400
                results.append(0)

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, 0, 0, 1, 1, 1, 1, 1]
    with rest_client(server) as client:
        assert salable(client, sku) == 0
