"""Contract: the stock an order reserves on is the stock of the store's website (MSI's stock
resolver, ``GET /V1/inventory/stock-resolver/{type}/{code}``), not always the default stock."""

from __future__ import annotations

from typing import Any

from marketbridge.adapters.magento import MagentoClient
from marketbridge.sandbox.magento.testing import TOKEN, place_cart_order, rest_client, running_sandbox


def move_website_to_a_new_stock(http: Any, source: str = "warehouse-2") -> int:
    """What a merchant does in Stores > Inventory > Stocks: a stock on one source, website ``base``
    assigned to it (it leaves the default stock: a sales channel belongs to one stock)."""
    created = http.post("/V1/inventory/stocks", json={"stock": {
        "name": "Marketplace Stock", "extension_attributes": {"sales_channels": [{"type": "website", "code": "base"}]}}})
    created.raise_for_status()
    stock_id = int(created.json())
    http.post("/V1/inventory/stock-source-links", json={"links": [
        {"stock_id": stock_id, "source_code": source, "priority": 1}]}).raise_for_status()
    return stock_id


def test_orders_reserve_on_the_stock_of_the_website():
    with running_sandbox(products=40) as (server, _app), MagentoClient(server.url, TOKEN) as client:
        with rest_client(server) as http:
            for source, qty in (("default", 10), ("warehouse-2", 6)):
                http.post("/V1/inventory/source-items", json={"sourceItems": [
                    {"sku": "MB-000003", "source_code": source, "quantity": qty, "status": 1}]}).raise_for_status()
            stock_id = move_website_to_a_new_stock(http)
            assert client.resolve_stock("website", "base").stock_id == stock_id
            assert client.resolve_stock("website", "base").name == "Marketplace Stock"
            default = client.stocks()[0]
            assert default.stock_id == 1 and not default.extension_attributes.sales_channels
            before = client.salable_quantity("MB-000003", 1)
            place_cart_order(http, [{"sku": "MB-000003", "qty": 4}])
        assert client.salable_quantity("MB-000003", stock_id) == 6 - 4
        assert client.salable_quantity("MB-000003", 1) == before  # the default stock is untouched
