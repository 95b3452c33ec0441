"""Issue 14: what the stock flow takes from each hook shape it is documented for, against the
Magento simulator (no web app: the handlers are called as the dispatcher calls them)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketbridge.adapters.db.models.stock import SkuState, StockHint
from marketbridge.bootstrap import build_runtime
from marketbridge.services.stock import on_order_event, on_stock_event, outbox
from marketbridge.services.stock import refresh as stock_refresh
from tests.conftest import make_settings
from tests.integration.test_stock_sync import simple_on_marketplace


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


def hints(rt) -> list[str]:
    with rt.db.session() as session:
        return sorted(session.scalars(select(StockHint.sku)))


def test_a_legacy_stock_item_event_is_read_by_its_product_id(rt, fresh_sandboxes):
    """``cataloginventory_stock_item_save_commit_after`` carries ``product_id`` and no SKU
    (events-reference): the handler hints the id, the refresh turns it into the SKU and reads it."""
    sku = simple_on_marketplace(fresh_sandboxes)[0]
    product_id = fresh_sandboxes.magento_app.state.sandbox.products[sku].id
    item = {"item_id": str(product_id), "product_id": str(product_id), "stock_id": "1", "qty": "333",
            "is_in_stock": "1"}
    with rt.db.session() as session:
        on_stock_event(session, "observer.cataloginventory_stock_item_save_commit_after",
                       {"data_object": item, "item": item})
    assert hints(rt) == [f"{outbox.PRODUCT_ID_HINT}{product_id}"]
    stock_refresh.refresh(rt)
    assert hints(rt) == [sku]
    stock_refresh.refresh(rt)
    with rt.db.session() as session:
        assert session.get(SkuState, sku) is not None
    assert hints(rt) in ([], [sku])  # a second read of the stock item save may be due later


def test_an_io_events_stock_item_value_and_an_unknown_product_id(rt):
    with rt.db.session() as session:
        on_stock_event(session, "observer.cataloginventory_stock_item_save_commit_after",
                       {"product_id": "999999", "qty": "1"})
    assert hints(rt) == [f"{outbox.PRODUCT_ID_HINT}999999"]
    stock_refresh.refresh(rt)
    assert hints(rt) == []  # no such product: nothing to read


def test_order_and_credit_memo_shapes_hint_their_skus(rt):
    with rt.db.session() as session:
        on_order_event(session, "plugin.magento.sales.api.order_management.place",
                       {"order": {"items": [{"sku": "MB-000010"}, {"sku": "MB-000011"}]}, "result": None})
        on_order_event(session, "observer.order_cancel_after", {"order": {"items": [{"sku": "MB-000012"}]}})
        on_order_event(session, "observer.sales_order_creditmemo_save_after",
                       {"creditmemo": {"entity_id": "5", "items": [{"sku": "MB-000013", "qty": "1.0000"}]}})
    assert hints(rt) == ["MB-000010", "MB-000011", "MB-000012", "MB-000013"]


def test_the_documented_hooks_reach_the_stock_flow(rt):
    from marketbridge.services.stock import on_unrecognised_event

    table = rt.webhook_handlers
    for name in ("plugin.magento.inventory_api.api.source_items_save.execute",
                 "observer.cataloginventory_stock_item_save_commit_after"):
        assert on_stock_event in table.for_event(name), name
    for name in ("plugin.magento.sales.api.order_management.place", "observer.order_cancel_after",
                 "observer.sales_order_creditmemo_save_after", "observer.sales_order_save_after"):
        assert on_order_event in table.for_event(name), name
    assert table.for_event("unrecognised") == [on_unrecognised_event]
