"""The shapes Adobe Commerce really sends, and how we name the event of each delivery.

Adobe Commerce webhooks (MAGENTO.md §11.1; docs ``webhooks/hooks.md``) come in two types, and
nothing in the request names the hook (the only header Commerce adds is
``x-adobe-commerce-request-id``):

* **observer** hooks: ``{"eventName": "observer.catalog_product_save_after", "data": {...}}``,
  where ``data`` holds what Magento dispatched, e.g. ``{"data_object": {...}, "product": {...}}``;
* **plugin** hooks: the intercepted method's arguments by PHP parameter name, plus ``subject``,
  plus ``result`` for an *after* hook, and **no** ``eventName``. ``SourceItemsSaveInterface::execute
  (array $sourceItems)`` sends ``{"subject": [], "sourceItems": [{"sku": ...}, ...]}``;
* either type with ``<fields>``: only the chosen fields, at the paths their ``name`` gives
  (``{"product": {"sku": "24-MB01"}}``): no ``eventName`` either, unless a field is named so.

Adobe I/O Events (the asynchronous route, §11.2) deliver CloudEvents 1.0: ``{"id", "type":
"com.adobe.commerce.observer.<event>", "data": {"key", "value": {<the filtered payload>},
"_metadata", "source"}, ...}``; the journal and our older tests wrap the same in ``{"event": ...}``.

So the event is named, in this order, by: the body's ``eventName`` (observer), the CloudEvent
``type``, the hook the delivery's URL names (``/webhooks/adobe-commerce/<hook>``, one URL per
hook as ``docs/setup/adobe-commerce.md`` says to register them), or the body's shape
(:func:`identify`). A body none of these name is :data:`UNRECOGNISED`: stored, answered with
success (a refused *required* hook aborts the merchant's own save), and raised as an exception.
"""

from __future__ import annotations

import re
from typing import Any

#: The name given to a body no rule names; its handler raises one exception per hook (path).
UNRECOGNISED = "unrecognised"

# The hooks docs/setup/adobe-commerce.md tells a merchant to register (PaaS method names carry
# the vendor ``magento``; SaaS names do not: both are handled by the same prefixes).
SOURCE_ITEMS_SAVE = "plugin.magento.inventory_api.api.source_items_save.execute"
ORDER_PLACE = "plugin.magento.sales.api.order_management.place"
PRODUCT_SAVE = "observer.catalog_product_save_after"
STOCK_ITEM_SAVE = "observer.cataloginventory_stock_item_save_commit_after"
SHIPMENT_SAVE = "observer.sales_order_shipment_save_after"
TRACK_SAVE = "observer.sales_order_shipment_track_save_after"
CREDITMEMO_SAVE = "observer.sales_order_creditmemo_save_after"
ORDER_CANCEL = "observer.order_cancel_after"

#: A hook name as it may appear in our URL: ``observer.<event>`` / ``plugin.<module>.<...>``.
HOOK_NAME = re.compile(r"^(observer|plugin)\.[A-Za-z0-9_.]{1,200}$")

# Top-level key of a (plugin or filtered) body → the hook it comes from. The keys are the PHP
# parameter names (plugins) or the observer's event objects (filtered observers keep them when a
# field is named ``product.sku`` etc., as the documentation's examples do).
_BY_KEY = (
    ("sourceItems", SOURCE_ITEMS_SAVE),
    ("order", ORDER_PLACE),
    ("product", PRODUCT_SAVE),
    ("shipment", SHIPMENT_SAVE),
    ("track", TRACK_SAVE),
    ("creditmemo", CREDITMEMO_SAVE),
)


def identify(data: Any) -> str | None:
    """The hook a body without a name most likely comes from, by its keys; None when unknown."""
    if not isinstance(data, dict):
        return None
    for key, name in _BY_KEY:
        if isinstance(data.get(key), (dict, list)):
            return name
    item = data.get("item")
    if isinstance(item, dict) and "product_id" in item:
        return STOCK_ITEM_SAVE
    if "sku" in data and ("type_id" in data or "attribute_set_id" in data):
        return PRODUCT_SAVE  # an I/O Events product value: the model's own data, unwrapped
    if "product_id" in data and ("qty" in data or "is_in_stock" in data):
        return STOCK_ITEM_SAVE  # an I/O Events stock item value
    return None


def is_cloud_event(payload: Any) -> bool:
    """A bare CloudEvent, as Adobe I/O Events POSTs it to a webhook."""
    return isinstance(payload, dict) and ("specversion" in payload
                                          or str(payload.get("type", "")).startswith("com.adobe."))


def _cloud_event(event: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    kind = event.get("type")
    name = kind.removeprefix("com.adobe.commerce.") if isinstance(kind, str) and kind else None
    inner = event.get("data")
    data = inner.get("value") if isinstance(inner, dict) and "value" in inner else inner
    return name, data if isinstance(data, dict) else {}


def envelope(payload: Any, hook: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(event name, data)`` of a parsed delivery (see the module docstring for the order).

    ``data`` is what the handlers search for SKUs and ids: the observer's ``data``, the plugin's
    arguments without ``subject`` (``result`` kept: an *after* hook's return value), or the
    CloudEvent's ``data.value``."""
    if not isinstance(payload, dict):
        return UNRECOGNISED, {"body": payload}
    name = payload.get("eventName")
    if isinstance(name, str) and name:
        data = payload.get("data")
        return name, data if isinstance(data, dict) else {}
    if is_cloud_event(payload) or isinstance(payload.get("event"), dict):
        named, data = _cloud_event(payload if is_cloud_event(payload) else payload["event"])
        return named or hook or identify(data) or UNRECOGNISED, data
    data = {key: value for key, value in payload.items() if key != "subject"}
    if set(data) == {"data"} and isinstance(data["data"], dict):
        data = data["data"]  # a filtered observer whose fields kept the ``data.`` prefix
    return hook or identify(data) or UNRECOGNISED, data


__all__ = ["CREDITMEMO_SAVE", "HOOK_NAME", "ORDER_CANCEL", "ORDER_PLACE", "PRODUCT_SAVE", "SHIPMENT_SAVE",
           "SOURCE_ITEMS_SAVE", "STOCK_ITEM_SAVE", "TRACK_SAVE", "UNRECOGNISED", "envelope", "identify",
           "is_cloud_event"]
