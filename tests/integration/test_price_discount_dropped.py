"""Keep mode sends back the back-office discount around our new price, unless the discount is no
longer below it (Mirakl refuses a discount price at or above the price). Then the discount is gone
from the offer, and Ecommerce hears about it as an exception on the SKU, not only in a log line."""

from __future__ import annotations

import httpx2

from marketbridge.domain.stock import PRICE_DISCOUNT_DROPPED
from tests.integration.test_stock_price_sets import _push_price, _runtime, _set_price
from tests.integration.test_stock_sync import offer, simple_on_marketplace


def _open_issues(rt, code: str) -> list[tuple[str, str]]:
    from marketbridge.services import issues as issue_service

    with rt.db.session() as session:
        return [(r.object_id, r.message) for r in issue_service.list_records(
            session, issue_service.IssueFilter(type=code, active_only=True))]


def test_a_discount_no_longer_below_the_new_price_is_dropped_and_reported(migrated_db_url, fresh_sandboxes) -> None:
    boxes = fresh_sandboxes
    rt = _runtime(migrated_db_url, boxes)
    try:
        sku = simple_on_marketplace(boxes)[5]
        current = offer(boxes, sku)["all_prices"][0]["unit_origin_price"]
        edit = {"discount_price": round(current * 0.9, 2), "discount_start": "2026-01-01T00:00:00Z",
                "discount_end": "2099-01-01T00:00:00Z"}
        assert httpx2.put(f"{boxes.mirakl_url}/_sandbox/offers/{sku}", json=edit).status_code == 200
        new_price = round(current * 0.5, 2)
        _set_price(boxes, sku, new_price)
        _push_price(rt, sku)
        after = offer(boxes, sku)
        assert after["discount"]["discount_price"] is None and after["price"] == new_price
        issues = _open_issues(rt, PRICE_DISCOUNT_DROPPED.code)
        assert [s for s, _ in issues] == [sku]
        assert "discount price" in issues[0][1]
    finally:
        rt.close()
