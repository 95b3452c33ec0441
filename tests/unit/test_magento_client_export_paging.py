"""The export's pages are pages of *products*: a short or empty page is not the end.

``export-stock-salable-qty`` drops every product not assigned to the stock from the page it
belongs to, and its ``total_count`` is that page's row count (magento/inventory#3416; see
docs/api-notes.md). The client pages by the product count under the same filter.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import httpx2

from marketbridge.adapters.magento import MagentoClient

# five products in entity order; only these are assigned to the stock
PRODUCTS = ["A", "B", "C", "D", "E"]
ASSIGNED = {"A", "C", "D", "E"}  # B is not: the first page has one row


class Store(httpx2.BaseTransport):
    def __init__(self) -> None:
        self.paths: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = urlsplit(str(request.url))
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        self.paths.append(url.path)
        size = int(query.get("searchCriteria[pageSize]", "0") or 0) or len(PRODUCTS)
        current = int(query.get("searchCriteria[currentPage]", "1") or 1)
        window = PRODUCTS[(current - 1) * size : current * size]
        if url.path.endswith("/V1/products"):
            body = {"items": [{"sku": s, "id": i} for i, s in enumerate(window, 1)],
                    "search_criteria": {}, "total_count": len(PRODUCTS)}
        else:
            rows = [{"sku": s, "qty": 1, "is_salable": True} for s in window if s in ASSIGNED]
            body = {"items": rows, "search_criteria": {}, "total_count": len(rows)}
        return httpx2.Response(200, content=json.dumps(body).encode(),
                               headers={"content-type": "application/json"})


def test_a_short_page_is_not_the_end():
    store = Store()
    with MagentoClient("http://magento.test", "token", transport=store) as client:
        rows = list(client.iterate_export_stock_salable_qty("website", "base", page_size=2))
    assert [r.sku for r in rows] == ["A", "C", "D", "E"]
    exports = [p for p in store.paths if "export-stock-salable-qty" in p]
    assert len(exports) == 3  # ceil(5 / 2): every page of products, whatever its row count


def test_an_empty_page_is_not_the_end():
    global ASSIGNED
    saved, ASSIGNED = ASSIGNED, {"E"}
    try:
        with MagentoClient("http://magento.test", "token", transport=Store()) as client:
            rows = list(client.iterate_export_stock_salable_qty("website", "base", page_size=2))
    finally:
        ASSIGNED = saved
    assert [r.sku for r in rows] == ["E"]


def test_a_known_bound_saves_the_product_count():
    """A ``sku in`` chunk of n SKUs matches at most n products: no count call, ceil(n/size) pages."""
    store = Store()
    with MagentoClient("http://magento.test", "token", transport=store) as client:
        rows = list(client.iterate_export_stock_salable_qty("website", "base", page_size=2, at_most=3))
    assert [r.sku for r in rows] == ["A", "C", "D"]  # pages 1 and 2 only (this store ignores filters)
    assert not any(p.endswith("/V1/products") for p in store.paths)
    assert len(store.paths) == 2
