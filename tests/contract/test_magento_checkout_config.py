"""Contract: the simulated store accepts only the payment methods and carriers enabled in its
configuration, with a fresh 2.4 store's defaults (checkmo and free; flatrate), and the
zero-total rules of ``Free::isAvailable`` and ``Checks\\ZeroTotal`` (docs/api-notes.md)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from marketbridge.sandbox.magento.testing import ADDRESS, place_cart_order, rest_client, running_sandbox

NOT_AVAILABLE = "The requested Payment Method is not available."


@pytest.fixture
def store():
    with running_sandbox(products=40) as (server, _app), rest_client(server) as http:
        yield server, http


def configure(server: Any, **config: Any) -> dict[str, Any]:
    response = httpx2.post(f"{server.url}/_sandbox/checkout-config", json=config)
    response.raise_for_status()
    return response.json()


def cart_with(http: httpx2.Client, sku: str, carrier: str = "flatrate", method: str = "flatrate") -> tuple[int, Any]:
    cart = http.post("/V1/carts/").json()
    http.post(f"/V1/carts/{cart}/items", json={"cartItem": {"sku": sku, "qty": 1, "quote_id": str(cart)}}).raise_for_status()
    info = {"shipping_address": ADDRESS, "billing_address": ADDRESS,
            "shipping_carrier_code": carrier, "shipping_method_code": method}
    return cart, http.post(f"/V1/carts/{cart}/shipping-information", json={"addressInformation": info})


def test_a_fresh_store_offers_checkmo_and_flatrate_only(store):
    server, http = store
    cart, shipping = cart_with(http, "MB-000001")
    assert shipping.status_code == 200
    assert [m["code"] for m in shipping.json()["payment_methods"]] == ["checkmo"]
    assert [m["code"] for m in http.get(f"/V1/carts/{cart}/payment-methods").json()] == ["checkmo"]
    rates = http.post(f"/V1/carts/{cart}/estimate-shipping-methods", json={"address": ADDRESS}).json()
    assert [(r["carrier_code"], r["method_code"], r["amount"]) for r in rates] == [("flatrate", "flatrate", 5)]


def test_disabled_payment_method_is_refused(store):
    server, http = store
    with pytest.raises(httpx2.HTTPStatusError) as refused:
        place_cart_order(http, [{"sku": "MB-000001", "qty": 1}], payment="banktransfer")
    assert refused.value.response.status_code == 400
    assert refused.value.response.json()["message"] == NOT_AVAILABLE
    configure(server, payment_methods={"banktransfer": True})
    assert place_cart_order(http, [{"sku": "MB-000001", "qty": 1}], payment="banktransfer") > 0


def test_free_is_refused_on_a_non_zero_total(store):
    _server, http = store
    with pytest.raises(httpx2.HTTPStatusError) as refused:
        place_cart_order(http, [{"sku": "MB-000001", "qty": 1}], payment="free")
    assert refused.value.response.json()["message"] == NOT_AVAILABLE


def test_zero_total_accepts_only_free(store):
    server, http = store
    httpx2.post(f"{server.url}/_sandbox/products", json={"sku": "MB-GIFT", "price": 0, "qty": 5}).raise_for_status()
    configure(server, carriers={"freeshipping": True})
    cart, shipping = cart_with(http, "MB-GIFT", "freeshipping", "freeshipping")
    assert shipping.json()["totals"]["grand_total"] == 0
    assert [m["code"] for m in shipping.json()["payment_methods"]] == ["free"]
    checkmo = http.put(f"/V1/carts/{cart}/order", json={"paymentMethod": {"method": "checkmo"}})
    assert checkmo.status_code == 400 and checkmo.json()["message"] == NOT_AVAILABLE
    assert http.put(f"/V1/carts/{cart}/order", json={"paymentMethod": {"method": "free"}}).status_code == 200


def test_inactive_or_unknown_carrier_is_404(store):
    server, http = store
    _cart, free = cart_with(http, "MB-000001", "freeshipping", "freeshipping")
    assert free.status_code == 404
    assert free.json()["message"] == "Carrier with such method not found: %1, %2"
    assert free.json()["parameters"] == ["freeshipping", "freeshipping"]
    _cart, unknown = cart_with(http, "MB-000001", "ups", "ground")
    assert unknown.status_code == 404
    configure(server, carriers={"freeshipping": True}, free_shipping_subtotal=1000)
    _cart, below = cart_with(http, "MB-000001", "freeshipping", "freeshipping")
    assert below.status_code == 404  # enabled, but no rate under the free-shipping subtotal
    configure(server, free_shipping_subtotal=None)
    _cart, offered = cart_with(http, "MB-000001", "freeshipping", "freeshipping")
    assert offered.status_code == 200 and offered.json()["totals"]["shipping_amount"] == 0


def test_a_removed_item_leaves_an_empty_cart(store):
    _server, http = store
    cart = http.post("/V1/carts/").json()
    item = http.post(f"/V1/carts/{cart}/items",
                     json={"cartItem": {"sku": "MB-000001", "qty": 1, "quote_id": str(cart)}}).json()
    assert http.delete(f"/V1/carts/{cart}/items/{item['item_id']}").json() is True
    assert http.get(f"/V1/carts/{cart}").json()["items"] == []
    assert http.delete(f"/V1/carts/{cart}/items/{item['item_id']}").status_code == 404
    assert http.post(f"/V1/carts/{cart}/estimate-shipping-methods", json={"address": ADDRESS}).json() == []


def test_create_app_takes_the_merchants_configuration():
    with running_sandbox(products=20, payment_methods=["checkmo", "free", "banktransfer"],
                         carriers=["flatrate", "freeshipping"]) as (server, _app):
        assert configure(server) == {"payment_methods": ["banktransfer", "checkmo", "free"],
                                     "carriers": ["flatrate", "freeshipping"], "free_shipping_subtotal": None}
