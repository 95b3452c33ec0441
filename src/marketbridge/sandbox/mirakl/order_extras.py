"""OR11 fields and order rules of the simulator that depend on the operator's configuration.

Kept apart from :mod:`.orders` (already large). Sources: the seller OpenAPI
(``../shared/reference/mirakl/mirakl-mmp-seller-openapi.json``, schema ``OR11_Response_200``) and
its OR11 example (``OR11.response.200.json``); docs/api-notes.md, "Issue 14: rate limits and OR11".

- ``delivery_date`` ``{earliest, latest}``: "Earliest/Latest order delivery date". The simulator
  counts one to three days of transit after the shipping deadline (the example's dates are one day
  apart; John Lewis's carriers' figures are not public).
- ``shipping_pudo_id``: "PickUp DropOff (PUDO) point identifier"; null unless the order was
  created with one (the control API takes ``shipping_pudo_id``).
- ``customer_directly_pays_seller``: false: John Lewis collects the payment (PAY_ON_ACCEPTANCE).
- ``invoice_details``: null: the operator asks no invoice documents of this shop (the example
  shows ``{document_details: [{format}], payment_terms: {days, type}}`` for those that do).
- line ``shipping_from``: ``{address: {..., country_iso_code}, warehouse: {code} | null}``, where
  the line ships from; the shop's address by default (OR07 would change it; we never call OR07).
- **STAGING**: with an operator fraud check (``staging_seconds`` > 0) a new order and its lines are
  in STAGING, addresses hidden and ``can_cancel`` false, until the check clears; then
  WAITING_ACCEPTANCE, the acceptance deadline counting from that moment. OR21 on a STAGING order
  is refused (``ORDER_INVALID_STATE``).
- **Refunds while SHIPPING** (``refund_while_shipping``): some operators let a shop refund a line
  before it ships (RE01 reason "cancelled by the client prior to shipping", OR28's
  ``excluded_from_shipment``); ``can_refund`` then covers SHIPPING lines too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from marketbridge.sandbox.mirakl.core import end_of_day, iso

if TYPE_CHECKING:
    from marketbridge.sandbox.mirakl.core import SandboxSettings
    from marketbridge.sandbox.mirakl.orders import Order, OrderLine

#: Line states a refund (OR28) is accepted in, by default.
REFUNDABLE_LINE_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED"})

#: Where the sandbox shop ships from (its warehouse address; any real shop has its own).
SHOP_ADDRESS = {"street_1": "Unit 4, Brook Park", "street_2": None, "zip_code": "MK1 1AA", "city": "Milton Keynes",
                "state": None, "country_iso_code": "GBR"}


def refundable_states(settings: SandboxSettings) -> frozenset[str]:
    return REFUNDABLE_LINE_STATES | {"SHIPPING"} if settings.refund_while_shipping else REFUNDABLE_LINE_STATES


def order_fields(order: Order) -> dict[str, Any]:
    """The order-level OR11 fields of this module (see the module docstring)."""
    base = order.shipping_deadline or end_of_day(order.created + timedelta(days=order.leadtime_to_ship))
    return {
        "delivery_date": {"earliest": iso(base + timedelta(days=1)), "latest": iso(base + timedelta(days=3))},
        "shipping_pudo_id": order.pudo_id,
        "customer_directly_pays_seller": False,
        "invoice_details": None,
    }


def shipping_from(line: OrderLine) -> dict[str, Any]:
    return {"address": dict(SHOP_ADDRESS), "warehouse": None}


def start_in_staging(order: Order, now: datetime, settings: SandboxSettings) -> None:
    """Put a new order through the operator's fraud check when there is one."""
    if settings.staging_seconds <= 0:
        return
    order.state = "STAGING"
    order.staging_until = now + timedelta(seconds=settings.staging_seconds)
    for line in order.lines:
        line.state = "STAGING"


def release_staged(orders: Iterable[Order], now: datetime, settings: SandboxSettings) -> list[Order]:
    """Orders whose fraud check cleared: WAITING_ACCEPTANCE, acceptance deadline from now."""
    released = []
    for order in orders:
        if order.state != "STAGING" or order.staging_until is None or now < order.staging_until:
            continue
        order.state = "WAITING_ACCEPTANCE"
        order.acceptance_deadline = now + timedelta(seconds=settings.acceptance_deadline_seconds)
        order.updated = now
        for line in order.lines:
            if line.state == "STAGING":
                line.state, line.updated = "WAITING_ACCEPTANCE", now
        released.append(order)
    return released


__all__ = ["REFUNDABLE_LINE_STATES", "order_fields", "refundable_states", "release_staged", "shipping_from",
           "start_in_staging"]
