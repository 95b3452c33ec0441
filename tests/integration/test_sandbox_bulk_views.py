"""The simulators' bulk read views a soak samples every few seconds: each must agree, SKU by SKU,
with the API a flow reads (Magento's salable-quantity REST call, the marketplace's OF21 offer)."""

from __future__ import annotations

import httpx2

from marketbridge.sandbox.magento.testing import place_cart_order, rest_client, running_sandbox
from marketbridge.sandbox.mirakl.app import create_app as create_mirakl
from marketbridge.sandbox.server import serve_in_thread


def test_magento_salable_quantities_match_the_rest_call_and_count_reservations() -> None:
    with running_sandbox(products=40) as (server, app), rest_client(server) as http:
        skus = [sku for sku, p in app.state.sandbox.products.items()
                if p.manage_stock and p.type_id == "simple" and p.status == 1][:3]
        httpx2.post(f"{server.url}/_sandbox/stock", json={"sku": skus[0], "qty": 7}).raise_for_status()
        place_cart_order(http, [{"sku": skus[0], "qty": 2}])  # a reservation: salable 5, source still 7
        httpx2.post(f"{server.url}/_sandbox/stock", json={"sku": skus[1], "qty": 0}).raise_for_status()

        view = httpx2.get(f"{server.url}/_sandbox/salable-quantities").json()

        assert view[skus[0]] == 5
        assert view[skus[1]] == 0
        for sku in skus:
            assert view[sku] == float(http.get(f"/V1/inventory/get-product-salable-quantity/{sku}/1").json())
        composite = [sku for sku, p in app.state.sandbox.products.items() if p.type_id != "simple"]
        assert composite and not set(composite) & set(view)  # Magento has no salable qty for those
        assert httpx2.get(f"{server.url}/_sandbox/salable-quantities", params={"stock_id": 99}).status_code == 404


def test_mirakl_offer_quantities_match_each_offer_and_follow_a_sale() -> None:
    app = create_mirakl(products=30, rate_scale=0.01)
    server = serve_in_thread(app)
    try:
        with httpx2.Client(base_url=server.url, timeout=10) as control:
            before = control.get("/_sandbox/offer-quantities").json()
            sku = next(s for s, qty in before.items() if qty >= 2 and s == s.strip())
            for shop_sku in list(before)[:5]:
                assert control.get(f"/_sandbox/offers/{shop_sku}").json()["quantity"] == before[shop_sku]
            control.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]}).raise_for_status()

            after = control.get("/_sandbox/offer-quantities").json()

            assert after[sku] == before[sku] - 1  # the marketplace takes a sold unit off the offer
            assert set(after) == set(before)
    finally:
        server.stop()
