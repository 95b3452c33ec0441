"""Contract: ``GET /V1/inventory/export-stock-salable-qty/{salesChannelType}/{salesChannelCode}``.

The client must send ``searchCriteria`` with exactly the query parameters the 2.4.8 schema declares
for this operation (camelCase ``filterGroups``/``conditionType``), and the sandbox must answer what
Magento's ``PreciseExportStockProcessor`` computes (see docs/api-notes.md, stock section).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import httpx2

from marketbridge.adapters.magento import MagentoClient, SearchCriteria
from marketbridge.sandbox.magento.testing import TOKEN, place_cart_order, rest_client, running_sandbox
from tests.contract.test_magento_schema import operation, response_schema, validate

TEMPLATE = "/V1/inventory/export-stock-salable-qty/{salesChannelType}/{salesChannelCode}"


class Capture(httpx2.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.urls: list[str] = []
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.urls.append(str(request.url))
        self.bodies.append(response.content)
        return response


def _declared_query_names() -> set[str]:
    """The schema's query parameter names, with list indexes generalised (``[0]`` -> ``[N]``)."""
    params = operation("GET", TEMPLATE)["parameters"]
    return {re.sub(r"\[\d+\]", "[N]", p["name"]) for p in params if p["in"] == "query"}


def test_client_sends_only_the_query_parameters_the_schema_declares():
    capture = Capture()
    with running_sandbox(products=40) as (server, _app), MagentoClient(server.url, TOKEN, transport=capture) as client:
        criteria = SearchCriteria().where("sku", ["MB-000001", "MB-000002"], "in").where("type_id", "simple")
        client.export_stock_salable_qty("website", "base", criteria.page(10, 1))
        rows = list(client.iterate_export_stock_salable_qty("website", "base", page_size=7))
    declared = _declared_query_names()
    assert "searchCriteria[filterGroups][N][filters][N][conditionType]" in declared
    for url in capture.urls:
        names = {re.sub(r"\[\d+\]", "[N]", k) for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
        assert names <= declared, names - declared
    assert len(capture.urls) >= 2 + 40 // 7
    # every product once, in entity order, each row valid against the schema's response definition
    assert len(rows) == len({r.sku for r in rows}) >= 40
    import json

    for body in capture.bodies:
        validate(json.loads(body), response_schema("GET", TEMPLATE))


def test_rows_are_magentos_salable_quantity_including_reservations():
    with running_sandbox(products=40) as (server, _app), MagentoClient(server.url, TOKEN) as client:
        httpx2.post(f"{server.url}/_sandbox/stock", json={"sku": "MB-000003", "qty": 10}).raise_for_status()
        before = client.salable_quantity("MB-000003", 1)
        with rest_client(server) as http:
            place_cart_order(http, [{"sku": "MB-000003", "qty": 4}])
        page = client.export_stock_salable_qty(
            "website", "base", SearchCriteria().where("sku", ["MB-000003", "MB-CFG-0001", "mb-000004"], "in")
        )
        by_sku = {r.sku: r for r in page.items}
        assert by_sku["MB-000003"].qty == client.salable_quantity("MB-000003", 1) == before - 4  # reserved
        assert by_sku["MB-000003"].is_salable is True
        assert by_sku["MB-000004"].qty == client.salable_quantity("MB-000004", 1)  # sku in: case-insensitive
        # a composite has no source items of its own: qty 0, is_salable from AreProductsSalable
        assert by_sku["MB-CFG-0001"].qty == 0
        assert by_sku["MB-CFG-0001"].is_salable is client.is_salable("MB-CFG-0001", 1)
        assert page.total_count == len(page.items) == 3  # Magento counts the page's rows
        missing = httpx2.get(
            f"{server.url}/rest/all/V1/inventory/export-stock-salable-qty/website/nowhere",
            params={"searchCriteria": ""}, headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert missing.status_code == 404


def test_skus_not_assigned_to_the_stock_are_left_out():
    """``PreciseExportStockProcessor`` skips a product with no source item in a source linked to
    the stock (magento/inventory#3416): the page is short, and ``total_count`` counts its rows."""
    with running_sandbox(products=40) as (server, _app), MagentoClient(server.url, TOKEN) as client:
        with rest_client(server) as http:
            http.post("/V1/inventory/source-items-delete", json={"sourceItems": [
                {"sku": "MB-000002", "source_code": code} for code in ("default", "warehouse-2")]}).raise_for_status()
        assert not client.source_items(["MB-000002"])
        page = client.export_stock_salable_qty(
            "website", "base", SearchCriteria().where("sku", ["MB-000001", "MB-000002", "MB-000003"], "in")
        )
        assert sorted(r.sku for r in page.items) == ["MB-000001", "MB-000003"]
        assert page.total_count == 2
        # what the export leaves out reads as 0 through the per-SKU call, as in Magento
        assert client.salable_quantity("MB-000002", 1) == 0
        rows = list(client.iterate_export_stock_salable_qty("website", "base", page_size=7))
        assert "MB-000002" not in {r.sku for r in rows}
        assert len(rows) == client.search_products(SearchCriteria().page(1, 1)).total_count - 1
