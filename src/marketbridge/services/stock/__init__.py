"""The stock and price flow: Adobe Commerce salable quantity and price → John Lewis offers.

Modules: :mod:`.rules` (stored channel rules), :mod:`.outbox` (hints, outbox, lanes and batches),
:mod:`.reading` (bulk reads from Adobe Commerce), :mod:`.apply` (store a read, compute, enqueue),
:mod:`.refresh` (re-read hinted SKUs), :mod:`.poll` (poll, catch-up, full resync, rule changes),
:mod:`.push` (claim, upload, follow), :mod:`.results` (record an import's per-SKU results),
:mod:`.state` (per-SKU views for the CLI and API). The webhook handlers of the flow (source items,
stock items, products, orders) are :func:`on_stock_event`, :func:`on_product_event` and
:func:`on_order_event`, for the event names in :data:`STOCK_EVENTS`, :data:`PRODUCT_EVENTS` and
:data:`ORDER_EVENTS`; :mod:`marketbridge.bootstrap` adds them to the webhook table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.domain.issues import IssueReport
from marketbridge.domain.stock import WEBHOOK_UNRECOGNISED
from marketbridge.services import issues as issue_service
from marketbridge.services.stock import outbox

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the dispatcher's transaction, wrapped in outbox.store

log = structlog.get_logger(__name__)

# Event name → (what to re-read). Stock events carry source items or a stock item; product saves
# may change price, status or attributes; orders change reservations (salable quantity).
# Plugin names carry the vendor on PaaS (``plugin.magento.…``) and not on SaaS: both are listed.
STOCK_EVENTS = (
    "plugin.inventory_api.api.source_items_save",
    "plugin.inventory_api.api.source_items_delete",
    "plugin.magento.inventory_api.api.source_items_save",
    "plugin.magento.inventory_api.api.source_items_delete",
    "observer.cataloginventory_stock_item_save",
)
PRODUCT_EVENTS = ("observer.catalog_product_save", "observer.catalog_product_delete")
# A cancel dispatches ``order_cancel_after`` (Magento\Sales\Model\Order::cancel), then saves the order.
ORDER_EVENTS = ("observer.sales_order_place_after", "observer.sales_order_save", "observer.sales_order_cancel",
                "observer.order_cancel_after", "plugin.sales.api.order_management.place",
                "plugin.magento.sales.api.order_management.place", "observer.checkout_submit_all_after",
                # a credit memo's return to stock goes through no SourceItemsSave plugin: only this tells
                "observer.sales_order_creditmemo_save")


# Adobe Commerce caps a SKU at 64 characters; ``stock_hints.sku`` holds 128. A longer "SKU" in an
# event cannot be a product: skip it (with a log line) rather than fail the whole event, which would
# also keep the real SKUs of the same event from being hinted.
MAX_SKU_LENGTH = 128


def _skus_in(value: Any, out: set[str], depth: int = 0) -> None:
    """Every ``sku`` found in a (filtered, possibly nested) event payload."""
    if depth > 6:
        return
    if isinstance(value, dict):
        sku = value.get("sku")
        if isinstance(sku, str) and sku.strip():
            if len(sku) <= MAX_SKU_LENGTH:
                out.add(sku)
            else:
                log.warning("stock.webhook_sku_too_long", length=len(sku), start=sku[:40])
        for key, child in value.items():
            if key != "sku":
                _skus_in(child, out, depth + 1)
    elif isinstance(value, list):
        for child in value:
            _skus_in(child, out, depth + 1)


def skus_of(data: dict) -> list[str]:
    found: set[str] = set()
    _skus_in(data, found)
    return sorted(found)


def product_ids_of(data: dict) -> list[str]:
    """The ``product_id`` of a legacy stock item event: ``data.item`` / ``data.data_object`` of an
    observer hook, or the I/O Events value itself (events-reference lists no ``sku`` for it)."""
    found: set[str] = set()
    for candidate in (data, data.get("item"), data.get("data_object"), data.get("stock_item")):
        if isinstance(candidate, dict):
            value = candidate.get("product_id")
            if isinstance(value, (int, str)) and str(value).isdigit():
                found.add(str(int(value)))
    return sorted(found)


def on_stock_event(session: Session, event_name: str, data: dict) -> None:
    skus = skus_of(data)
    if not skus:  # a stock item: only its product id; the refresh resolves it (no remote call here)
        skus = [outbox.PRODUCT_ID_HINT + product_id for product_id in product_ids_of(data)]
    outbox.note_hints(session, skus, stock=True, reason=event_name[:64])


def on_product_event(session: Session, event_name: str, data: dict) -> None:
    outbox.note_hints(session, skus_of(data), stock=True, price=True, details=True, reason=event_name[:64])


def on_order_event(session: Session, event_name: str, data: dict) -> None:
    outbox.note_hints(session, skus_of(data), stock=True, exact=True, reason=event_name[:64])


def on_unrecognised_event(session: Session, event_name: str, data: dict) -> None:
    """A signed body no rule could name (:data:`~marketbridge.adapters.magento.hooks.UNRECOGNISED`):
    one exception per shape (its top-level keys), for Ecommerce to fix the hook; the poll covers
    the change meanwhile. SKUs found in it are still hinted: a re-read costs little."""
    keys = ", ".join(sorted(str(key) for key in data)[:12]) or "no keys"
    hook = f"unnamed hook ({keys})"[:200]
    issue_service.record(session, IssueReport(
        type=WEBHOOK_UNRECOGNISED, object_id=hook,
        message=f"A signed Adobe Commerce delivery with the fields {keys} names no hook we know (no hook in its "
                "URL, no eventName or event type); it was stored and answered, and the poll will pick up its change.",
        detail="Register each hook at /webhooks/adobe-commerce/<hook name> (docs/setup/adobe-commerce.md)."))
    outbox.note_hints(session, skus_of(data), stock=True, reason=event_name[:64])


def hint(session: Session, skus: Iterable[str], **flags: Any) -> int:
    """Public entry for other flows: "these SKUs may have changed stock" (same transaction)."""
    return outbox.note_hints(session, skus, **flags)


__all__ = ["ORDER_EVENTS", "PRODUCT_EVENTS", "STOCK_EVENTS", "hint", "on_order_event", "on_product_event",
           "on_stock_event", "on_unrecognised_event", "skus_of"]
