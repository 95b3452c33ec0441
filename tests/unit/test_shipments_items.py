"""Which Magento shipment items count toward marketplace lines (configurable parent + child once)."""

from __future__ import annotations

from marketbridge.adapters.magento import models as magento_models
from marketbridge.services.shipments.prepare import _items_for_allocation


def test_configurable_parent_and_child_count_once_and_ext_ids_come_from_the_order():
    order = magento_models.Order.model_validate({"entity_id": 1, "increment_id": "000000001", "items": [
        {"item_id": 10, "sku": "MB-CFG-0001-RED-M", "product_type": "configurable", "qty_ordered": 1,
         "ext_order_item_id": "JL-1-A-1"},
        {"item_id": 11, "sku": "MB-CFG-0001-RED-M", "product_type": "simple", "parent_item_id": 10, "qty_ordered": 1},
        {"item_id": 12, "sku": "MB-000003", "product_type": "simple", "qty_ordered": 2},
    ]})
    shipment = magento_models.Shipment.model_validate({"entity_id": 5, "order_id": 1, "items": [
        {"order_item_id": 10, "sku": "MB-CFG-0001-RED-M", "qty": 1},
        {"order_item_id": 11, "sku": "MB-CFG-0001-RED-M", "qty": 1},
        {"order_item_id": 12, "sku": "MB-000003", "qty": 2},
    ], "tracks": []})
    items = _items_for_allocation(shipment, order)
    assert [(i.order_item_id, i.sku, i.qty, i.ext_order_item_id) for i in items] == [
        (10, "MB-CFG-0001-RED-M", 1, "JL-1-A-1"), (12, "MB-000003", 2, None)]
