"""Helpers for the shipments tests: a paid marketplace order in SHIPPING with its Magento order
(``ext_order_id`` = marketplace order id), and warehouse actions on the Magento sandbox."""

from __future__ import annotations

from typing import Any

import httpx2

from marketbridge.adapters.magento import models as magento_models
from marketbridge.sandbox.catalogue import seed_catalogue

ADDRESS = magento_models.Address(firstname="Ada", lastname="Lovelace", street=["1 Test Street"], city="London",
                     postcode="SW1A 1AA", country_id="GB", telephone="0200000000", email="ada@example.com")


def simple_skus(count: int, products: int = 120, seed: int = 7) -> list[str]:
    """SKUs sold on both sides under the same code, enabled and well stocked."""
    picked = [p.sku for p in seed_catalogue(products, seed)
              if p.type_id == "simple" and p.status == 1 and p.marketplace_sku == p.sku and p.qty >= 20
              and p.manage_stock]
    assert len(picked) >= count, "seed catalogue too small for the test"
    return picked[:count]


def marketplace_order(mirakl_url: str, runtime: Any, lines: list[tuple[str, int]], *,
                      shipping_type: str = "STD") -> dict[str, Any]:
    """Create, accept and debit a marketplace order; returns {order_id, line_ids}."""
    with httpx2.Client(base_url=mirakl_url) as http:
        created = http.post("/_sandbox/orders", json={
            "lines": [{"offer_sku": sku, "quantity": qty} for sku, qty in lines],
            "shipping_type_code": shipping_type}).json()
        order_id = created["order_id"]
        runtime.mirakl.accept_order(order_id, dict.fromkeys(created["order_line_ids"], True))
        debited = http.post(f"/_sandbox/orders/{order_id}/debit").json()
        assert debited["order_state"] == "SHIPPING", debited
    return {"order_id": order_id, "line_ids": created["order_line_ids"]}


def magento_order(runtime: Any, ext_order_id: str, lines: list[tuple[str, int]]) -> Any:
    entity_id = runtime.magento.create_order_via_cart(
        [magento_models.CartLine(sku=sku, qty=float(qty)) for sku, qty in lines], shipping_address=ADDRESS,
        email="ada@example.com", ext_order_id=ext_order_id)
    return runtime.magento.get_order(entity_id)


def ship(runtime: Any, order: Any, *, tracks: list[tuple[str, str, str]] = (), items: dict[str, int] | None = None) -> int:
    """Ship in Magento (``items`` sku -> qty; all when None) with tracks (number, title, carrier code)."""
    item_inputs = None
    if items is not None:
        by_sku = {i.sku: i.item_id for i in order.items if i.parent_item_id is None}
        item_inputs = [magento_models.DocumentItemInput(order_item_id=by_sku[sku], qty=float(qty)) for sku, qty in items.items()]
    return runtime.magento.ship_order(order.entity_id, items=item_inputs,
                                      tracks=[magento_models.TrackInput(track_number=n, title=t, carrier_code=c) for n, t, c in tracks]
                                      or None)


def mirakl_order(mirakl_url: str, order_id: str) -> dict[str, Any]:
    with httpx2.Client(base_url=mirakl_url) as http:
        return http.get(f"/_sandbox/orders/{order_id}").json()


def mirakl_settings(mirakl_url: str, **values: Any) -> None:
    with httpx2.Client(base_url=mirakl_url) as http:
        http.post("/_sandbox/settings", json=values).raise_for_status()
