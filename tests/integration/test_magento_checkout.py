"""The client against a store configured like a real one: it pays with ``free`` at a zero total,
and says what to enable when the store does not offer the configured methods."""

from __future__ import annotations

import httpx2
import pytest

from marketbridge.adapters.errors import Rejected
from marketbridge.adapters.magento import MagentoClient
from marketbridge.adapters.magento import models as magento_models
from marketbridge.sandbox.magento.testing import ADDRESS, TOKEN, running_sandbox

ADDR = magento_models.Address(**ADDRESS)


def order(client: MagentoClient, sku: str, **kwargs) -> int:
    return client.create_order_via_cart([magento_models.CartLine(sku=sku, qty=1)], shipping_address=ADDR,
                                        email="c@example.invalid", **kwargs)


def test_a_fresh_store_refuses_free_shipping_and_other_payment_methods_with_what_to_enable():
    with running_sandbox(products=20) as (server, _app), MagentoClient(server.url, TOKEN) as client:
        with pytest.raises(Rejected, match="Delivery Methods") as carrier:
            order(client, "MB-000001", carrier_code="freeshipping", method_code="freeshipping")
        assert "freeshipping_freeshipping" in carrier.value.message
        with pytest.raises(Rejected, match="Payment Methods") as payment:
            order(client, "MB-000001", payment_method="banktransfer")
        assert "'banktransfer' is not enabled" in payment.value.message and "checkmo" in payment.value.message
        assert httpx2.get(f"{server.url}/_sandbox/orders").json() == []  # nothing placed
        assert order(client, "MB-000001") > 0  # checkmo and flatrate: a fresh store's


def test_a_zero_total_order_is_paid_with_free():
    with running_sandbox(products=20, carriers=["flatrate", "freeshipping"]) as (server, _app), \
            MagentoClient(server.url, TOKEN) as client:
        httpx2.post(f"{server.url}/_sandbox/products", json={"sku": "MB-GIFT", "price": 0, "qty": 5}).raise_for_status()
        placed = order(client, "MB-GIFT", carrier_code="freeshipping", method_code="freeshipping")
        assert client.get_order(placed).payment.method == "free"


def test_the_warehouse_view_of_orders_carries_magentos_creation_time():
    """Benchmarks time an order's creation from outside the service with it (``/_sandbox/orders``)."""
    import datetime as dt

    with running_sandbox(products=20) as (server, _app), MagentoClient(server.url, TOKEN) as client:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
        placed = order(client, "MB-000001", ext_order_id="MKT-1")
        rows = httpx2.get(f"{server.url}/_sandbox/orders", params={"ext_order_id": "MKT-1"}).json()
        assert [row["entity_id"] for row in rows] == [placed]
        created = dt.datetime.strptime(rows[0]["created_at"], "%Y-%m-%d %H:%M:%S")  # Magento's format, UTC
        assert before <= created <= dt.datetime.now(dt.UTC).replace(tzinfo=None)
