"""MagentoClient against the Adobe Commerce sandbox over real HTTP."""

from __future__ import annotations

import time

import httpx2
import pytest
import stamina
from pydantic import SecretStr

from marketbridge.adapters.errors import (
    AuthFailed,
    NetworkError,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
)
from marketbridge.adapters.magento import MagentoClient, OAuth1Credentials, SearchCriteria
from marketbridge.adapters.magento import models as magento_models
from marketbridge.sandbox.magento.oauth import OAuthConfig
from marketbridge.sandbox.magento.testing import ADDRESS, TOKEN, running_sandbox
from marketbridge.settings import load_settings

OAUTH = OAuthConfig()
ADDR = magento_models.Address(**ADDRESS)


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(products=80) as (server, app):
        yield server, app


@pytest.fixture()
def client(sandbox):
    server, _ = sandbox
    with MagentoClient(server.url, TOKEN) as c:
        yield c


def calls(server) -> list[dict]:
    return httpx2.get(f"{server.url}/_sandbox/calls").json()


def clear_calls(server) -> None:
    httpx2.delete(f"{server.url}/_sandbox/calls")


def set_faults(server, **rule) -> None:
    httpx2.post(f"{server.url}/_sandbox/faults", json={"rules": [rule], "seed": 3}).raise_for_status()


def new_sku(server, sku: str, qty: float, price: float = 20.0) -> str:
    httpx2.post(
        f"{server.url}/_sandbox/products", json={"sku": sku, "qty": qty, "price": price}
    ).raise_for_status()
    return sku


def test_iterate_products_uses_keyset_paging_and_sees_everything(sandbox, client):
    server, app = sandbox
    clear_calls(server)
    seen = [p.sku for p in client.iterate_products(page_size=7)]
    assert len(seen) == len(set(seen)) == len(app.state.sandbox.products)
    product_calls = [c for c in calls(server) if c["api"] == "GET /V1/products"]
    assert len(product_calls) == len(seen) // 7 + 1
    since = client.iterate_products(updated_since="2999-01-01 00:00:00")
    assert list(since) == []


def test_catalogue_reads(client):
    cfg = client.get_product("MB-CFG-0001")
    assert cfg.type_id == "configurable" and cfg.extension_attributes.configurable_product_links
    children = client.configurable_children("MB-CFG-0001")
    assert {c.id for c in children} == set(cfg.extension_attributes.configurable_product_links)
    bundle = client.bundle_options("MB-BUNDLE-0001")
    assert bundle and all(o.product_links for o in bundle)
    engraved = client.get_product("MB-ENGRAVED-0001")
    assert engraved.has_required_options
    page = client.search_products(SearchCriteria().where("type_id", "simple").order_by("sku").page(5, 2))
    assert len(page.items) == 5 and page.total_count > 5
    assert page.items[0].attribute("ean")


def test_inventory_reads(sandbox, client):
    server, _ = sandbox
    sku = new_sku(server, "MB-C-STOCK", 6)
    httpx2.post(f"{server.url}/_sandbox/stock", json={"sku": sku, "qty": 4, "source_code": "warehouse-2"})
    items = client.source_items([sku, "MB-000001"])
    assert {(i.sku, i.source_code) for i in items} >= {(sku, "default"), (sku, "warehouse-2")}
    assert client.salable_quantity(sku, 1) == 10
    assert client.is_salable(sku, 1) is True
    every = list(client.iterate_source_items(page_size=13))
    assert len(every) == len({(i.sku, i.source_code) for i in every})
    assert [s.stock_id for s in client.stocks()] == [1]
    assert {link.source_code for link in client.stock_source_links(1)} == {"default", "warehouse-2"}
    client.save_source_items([magento_models.SourceItemInput(sku=sku, source_code="default", quantity=1, status=1)])
    assert client.salable_quantity(sku, 1) == 5


def test_errors_are_mapped_with_placeholders_filled(sandbox, client):
    server, _ = sandbox
    with pytest.raises(NotFound) as missing:
        client.get_product("NO-SUCH-SKU")
    assert missing.value.status == 404 and "doesn't exist" in missing.value.message
    with MagentoClient(server.url, "wrong-token") as bad:
        with pytest.raises(AuthFailed) as denied:
            bad.get_order(1)
    assert denied.value.message == "The consumer isn't authorized to access Magento_Sales::actions_view."
    assert "wrong-token" not in str(denied.value)
    with pytest.raises(Rejected) as rejected:
        client.salable_quantity("MB-CFG-0001", 1)
    assert rejected.value.status == 400
    with pytest.raises(NotFound):
        client.get_product("with/slash and space")  # encoded in the path, never a different route


def test_gets_are_retried_on_500_and_429_but_writes_are_not(sandbox, client):
    server, _ = sandbox
    try:
        with stamina.set_testing(True, attempts=3):
            set_faults(server, endpoint="/V1/products/MB-000002", error_rate=1.0)
            clear_calls(server)
            with pytest.raises(ServerError):
                client.get_product("MB-000002")
            assert len(calls(server)) == 3

            set_faults(server, endpoint="/V1/inventory", rate_limit_rate=1.0, retry_after=2)
            clear_calls(server)
            with pytest.raises(RateLimited) as limited:
                client.salable_quantity("MB-000002", 1)
            assert limited.value.retry_after == 2 and len(calls(server)) == 3

            set_faults(server, endpoint="/V1/carts", error_rate=1.0)
            clear_calls(server)
            with pytest.raises(ServerError):
                client.create_order_via_cart(
                    [magento_models.CartLine(sku="MB-000002", qty=1)], shipping_address=ADDR, email="a@b.c"
                )
            assert len(calls(server)) == 1

        set_faults(server, endpoint="/V1/products", error_rate=0.5)
        with stamina.set_testing(True, attempts=10):
            assert client.get_product("MB-000003").sku == "MB-000003"
    finally:
        httpx2.delete(f"{server.url}/_sandbox/faults")


def test_oauth_signed_requests_are_accepted(sandbox):
    server, _ = sandbox
    creds = OAuth1Credentials(
        OAUTH.consumer_key, OAUTH.consumer_secret, OAUTH.access_token, OAUTH.access_token_secret
    )
    with MagentoClient(server.url, "unused", oauth=creds) as signed:
        page = signed.search_products(SearchCriteria().where("sku", "MB-00001%", "like").page(3))
        assert page.total_count >= 3
        assert signed.get_product("MB-000001").sku == "MB-000001"
        cart = signed._call("POST", "/V1/carts/")
        assert int(cart) > 0
        odd = new_sku(server, "MB/ODD SKU+1~é", 3)  # reserved characters survive encoding and signing
        assert signed.get_product(odd).sku == odd and signed.salable_quantity(odd, 1) == 3
        assert signed.search_products(SearchCriteria().where("sku", odd)).total_count == 1
    wrong = OAuth1Credentials(
        OAUTH.consumer_key, "not-the-secret", OAUTH.access_token, OAUTH.access_token_secret
    )
    with MagentoClient(server.url, "unused", oauth=wrong) as bad:
        with pytest.raises(AuthFailed):
            bad.get_product("MB-000001")


def test_order_lifecycle_through_the_client(sandbox, client):
    server, _ = sandbox
    sku = new_sku(server, "MB-C-ORDER", 10, price=25)
    child = client.configurable_children("MB-CFG-0001")[-1]
    httpx2.post(f"{server.url}/_sandbox/stock", json={"sku": child.sku, "qty": 5}).raise_for_status()
    options = {"93": int(child.attribute("color")), "144": int(child.attribute("size"))}
    order_id = client.create_order_via_cart(
        [magento_models.CartLine(sku=sku, qty=2), magento_models.CartLine(sku="MB-CFG-0001", qty=1, configurable_options=options)],
        shipping_address=ADDR,
        email="buyer@example.invalid",
        ext_order_id="JL-ORDER-1",
    )
    order = client.find_order_by_ext_id("JL-ORDER-1")
    assert order is not None and order.entity_id == order_id
    assert client.find_order_by_ext_id("JL-ORDER-404") is None
    assert order.shipping_address is not None and order.shipping_address.postcode == ADDRESS["postcode"]
    assert client.salable_quantity(sku, 1) == 8
    assert client.salable_quantity(child.sku, 1) == 4
    assert client.add_order_comment(order_id, "Imported from John Lewis order JL-ORDER-1")

    invoice_id = client.invoice_order(order_id)
    assert (
        client.search_invoices(SearchCriteria().where("order_id", order_id)).items[0].entity_id == invoice_id
    )
    line = next(i for i in order.top_level_items() if i.sku == sku)
    shipment_id = client.ship_order(
        order_id,
        items=[magento_models.DocumentItemInput(order_item_id=line.item_id, qty=2)],
        tracks=[magento_models.TrackInput(track_number="DPD1", title="DPD", carrier_code="dpd")],
    )
    track = client.add_track(shipment_id, order_id, "DPD2", "DPD", "dpd")
    assert track.parent_id == shipment_id
    shipment = client.get_shipment(shipment_id)
    assert [t.track_number for t in shipment.tracks] == ["DPD1", "DPD2"]
    assert shipment_id in [
        s.entity_id for s in client.iterate_shipments(after_entity_id=shipment_id - 1, page_size=1)
    ]
    assert client.get_order(order_id).state == "processing"

    memo_id = client.refund_order(
        order_id, [magento_models.DocumentItemInput(order_item_id=line.item_id, qty=1)], shipping_amount=0
    )
    memo = client.get_creditmemo(memo_id)
    assert (memo.subtotal, memo.shipping_amount, memo.grand_total) == (25, 0, 25)
    assert [c.entity_id for c in client.iterate_creditmemos(order_id=order_id)] == [memo_id]
    assert list(client.iterate_creditmemos(after_entity_id=memo_id)) == []


def test_guest_cart_direct_order_and_cancel(sandbox, client):
    server, _ = sandbox
    sku = new_sku(server, "MB-C-GUEST", 5)
    order_id = client.create_order_via_cart(
        [magento_models.CartLine(sku=sku, qty=1)], shipping_address=ADDR, email="guest@example.invalid", guest=True
    )
    assert client.get_order(order_id).customer_email == "guest@example.invalid"
    assert client.cancel_order(order_id) is True
    assert client.salable_quantity(sku, 1) == 5

    entity = magento_models.OrderEntity(
        customer_email="direct@example.invalid",
        base_grand_total=19.99,
        grand_total=19.99,
        ext_order_id="JL-DIRECT-1",
        billing_address=magento_models.OrderAddressInput(address_type="billing", **ADDRESS),
        items=[magento_models.OrderItemInput(sku=sku, name="Direct", qty_ordered=1, price=19.99)],
        payment=magento_models.OrderPaymentInput(method="checkmo"),
    )
    direct = client.create_order_direct(entity)
    assert direct.ext_order_id == "JL-DIRECT-1" and direct.grand_total == 19.99
    assert client.salable_quantity(sku, 1) == 5  # no reservation
    orders = list(client.iterate_orders(after_entity_id=order_id - 1, page_size=1))
    assert [o.entity_id for o in orders] == [order_id, direct.entity_id]


def test_from_settings_builds_an_oauth_client(sandbox):
    server, _ = sandbox
    settings = load_settings(
        magento_base_url=server.url,
        magento_oauth_consumer_key=SecretStr(OAUTH.consumer_key),
        magento_oauth_consumer_secret=SecretStr(OAUTH.consumer_secret),
        magento_oauth_access_token=SecretStr(OAUTH.access_token),
        magento_oauth_access_token_secret=SecretStr(OAUTH.access_token_secret),
    )
    with MagentoClient.from_settings(settings) as c:
        assert "oauth" in repr(c) and OAUTH.consumer_secret not in repr(c)
        assert c.get_product("MB-000001").sku == "MB-000001"


def test_timeouts_become_network_errors_and_latency_is_injected(sandbox):
    server, _ = sandbox
    try:
        set_faults(server, endpoint="/V1/stockItems", timeout_rate=1.0, timeout_seconds=1.0)
        with MagentoClient(server.url, TOKEN, timeout=0.2) as slow, stamina.set_testing(True, attempts=2):
            clear_calls(server)
            with pytest.raises(NetworkError):
                slow.stock_item("MB-000001")
        set_faults(server, endpoint="*", latency_ms=150)
        with MagentoClient(server.url, TOKEN) as c:
            started = time.perf_counter()
            c.get_product("MB-000001")
            assert time.perf_counter() - started >= 0.15
    finally:
        httpx2.delete(f"{server.url}/_sandbox/faults")


def test_cart_placement_that_fails_after_taking_effect_is_recovered_not_repeated(sandbox, client):
    server, app = sandbox
    sku = new_sku(server, "MB-C-RECOVER", 4)
    orders_before = len(app.state.sandbox.orders)
    httpx2.post(
        f"{server.url}/_sandbox/faults",
        json={"rules": [{"endpoint": "PUT /V1/carts/{cartId}/order", "error_after_rate": 1.0}]},
    ).raise_for_status()
    try:
        order_id = client.create_order_via_cart(
            [magento_models.CartLine(sku=sku, qty=1)],
            shipping_address=ADDR,
            email="r@example.invalid",
            ext_order_id="JL-RECOVER",
        )
    finally:
        httpx2.delete(f"{server.url}/_sandbox/faults")
    assert len(app.state.sandbox.orders) == orders_before + 1
    found = client.find_order_by_ext_id("JL-RECOVER")
    assert found is not None and found.entity_id == order_id
    assert client.salable_quantity(sku, 1) == 3  # reserved once
    placements = [c for c in calls(server) if c["api"] == "PUT /V1/carts/{cartId}/order"]
    assert [c["status"] for c in placements][-1] == 500


def test_input_limits_mode_and_the_client_page_size_cap():
    with running_sandbox(products=400, input_limits=True) as (server, app):
        with httpx2.Client(
            base_url=f"{server.url}/rest/all", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as raw:
            assert len(raw.get("/V1/products", params={"searchCriteria": ""}).json()["items"]) == 20
            too_big = raw.get("/V1/products", params={"searchCriteria[pageSize]": 301})
            assert too_big.status_code == 400
            assert too_big.json() == {
                "message": "Maximum SearchCriteria pageSize is %max",
                "parameters": {"max": 300},
            }
        with MagentoClient(server.url, TOKEN) as c:
            assert len(list(c.iterate_products(page_size=1000))) == len(app.state.sandbox.products)
            assert len(list(c.iterate_source_items(page_size=1000))) == sum(
                len(v) for v in app.state.sandbox.source_items.values()
            )
