"""Confirm from the order feed (issue 20): with ``order_feed_enabled`` a send does not confirm on
OR23/OR24's answer; the shipment stays ``sent`` (or ``partial``) until the feed's next read of the
order shows what our write did, and :func:`confirm_from_feed` acts on that read:

* the order is SHIPPED (TO_COLLECT, RECEIVED, CLOSED): every open shipment of it is confirmed and
  the order record moves to shipped, as OR24's answer did before; a tracking *correction* (a
  shipment confirmed once, then sent again with a new number) waits until the mirror shows that
  number;
* the order is CANCELED or REFUSED: the shipment stops for Ops (``shipment_rejected``);
* OR24 was refused and a complete read that started after the refusal still shows the order
  unshipped: the refusal stands (stopped for Ops, as the OR11 path does at once). Before such a
  read it may have been our own earlier OR24 (its answer lost), so nothing is decided.

It runs from the bus, when the feed publishes ``MarketplaceOrderChanged`` (``shipped`` or
``cancelled``: :func:`on_order_changed`, wired by bootstrap), and from every shipments poll as the
backstop for a lost message. Idempotent: it acts on what the mirror says now, never on the message.
A ``paid`` message starts the order's due sends at once (one waiting for payment is retried then,
not at the next poll). With the feed off it does nothing: OR11's answers confirm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from marketbridge.bus import MarketplaceOrderChanged
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import ShipmentState
from marketbridge.runtime import Runtime
from marketbridge.services.shipments.common import _orders, _start
from marketbridge.services.shipments.outcomes import _confirm, _stop

#: The feed's change kinds that can confirm or stop a shipment, and the one that can start sends.
DECIDING_KINDS = frozenset({"shipped", "cancelled"})
STARTING_KINDS = frozenset({"paid"})
_AWAITING = (ShipmentState.SENT.value, ShipmentState.PARTIAL.value)


@dataclass(frozen=True)
class _Pending:
    """An open shipment's facts, read in one unit of work and decided on after it."""

    shipment_id: int
    order_id: str
    correction: bool  # confirmed once, sent again with a new tracking number
    tracking_number: str | None
    refused_at: dt.datetime | None  # when OR24 was refused (our clock), if it was
    refusal: str


def _refused_at(results: dict | None) -> tuple[dt.datetime | None, str]:
    note = (results or {}).get("OR24") or {}
    if note.get("status") != "rejected":
        return None, ""
    try:
        moment = dt.datetime.fromisoformat(str(note.get("at")))
    except ValueError:
        return None, ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)), str(note.get("detail") or "")


def _pending(runtime: Runtime, order_ids: Iterable[str] | None) -> list[_Pending]:
    with runtime.shipments_store.unit_of_work() as repo:
        if order_ids is None:
            rows = [row for row in repo.open_shipments() if row.state in _AWAITING]
        else:
            rows = [row for order_id in dict.fromkeys(order_ids)
                    for row in repo.shipments_of_order(order_id, states=list(_AWAITING))]
        found = []
        for row in rows:
            refused_at, refusal = _refused_at(row.results)
            found.append(_Pending(
                shipment_id=row.magento_shipment_id, order_id=row.marketplace_order_id,
                correction=row.confirmed_at is not None and row.state == ShipmentState.SENT.value,
                tracking_number=row.tracking_number, refused_at=refused_at, refusal=refusal))
    return found


def confirm_from_feed(runtime: Runtime, order_ids: Iterable[str] | None = None) -> list[int]:
    """Decide the shipments awaiting the feed (of ``order_ids``, or all) on what the mirror says now
    (see the module doc). Returns the ids of the shipments confirmed."""
    source = _orders(runtime)
    if not source.confirms_by_reading:
        return []
    by_order: dict[str, list[_Pending]] = {}
    for pending in _pending(runtime, order_ids):
        by_order.setdefault(pending.order_id, []).append(pending)
    confirmed: list[int] = []
    for order_id, waiting in by_order.items():
        order = source.get(order_id)
        if order is None:
            continue
        if order.state in shipments_domain.SHIPPED_ORDER_STATES:
            # (a correction of an order already shipped cannot meet another shipment of it still
            # awaiting: that one's send found the order shipped and confirmed at once)
            corrections = [p for p in waiting if p.correction]
            for pending in corrections:
                if pending.tracking_number and order.tracking_number == pending.tracking_number:
                    _confirm(runtime, pending.shipment_id, "the order feed read the corrected tracking number",
                             order_shipped=False)
                    confirmed.append(pending.shipment_id)
            others = [p for p in waiting if not p.correction]
            if others:  # the first one's confirmation takes the order's other sent and partial ones along
                _confirm(runtime, others[0].shipment_id, f"the order feed read the order {order.state}",
                         also_partial=True)
                confirmed.extend(p.shipment_id for p in others)
        elif order.state in shipments_domain.DEAD_ORDER_STATES:
            for pending in waiting:
                _stop(runtime, pending.shipment_id, "feed", f"the marketplace order is {order.state}",
                      shipments_domain.SHIPMENT_REJECTED)
        else:
            for pending in waiting:
                if pending.refused_at is not None and source.read_since(pending.refused_at):
                    _stop(runtime, pending.shipment_id, "OR24", pending.refusal or f"refused; order still {order.state}")
    return confirmed


def on_order_changed(runtime: Runtime, message: MarketplaceOrderChanged) -> list[int]:
    """The bus handler of the feed's changes (wired by bootstrap when the feed is on): ``shipped``
    and ``cancelled`` decide the order's shipments awaiting the feed; ``paid`` starts its due sends.
    Returns the shipments confirmed."""
    if message.kind in STARTING_KINDS:
        with runtime.shipments_store.unit_of_work() as repo:
            due = [(row.magento_shipment_id, row.generation) for row in repo.shipments_of_order(
                message.order_id, states=[ShipmentState.NEW.value, ShipmentState.READY.value])]
        _start(runtime, due)
        return []
    if message.kind in DECIDING_KINDS:
        return confirm_from_feed(runtime, [message.order_id])
    return []


__all__ = ["DECIDING_KINDS", "STARTING_KINDS", "confirm_from_feed", "on_order_changed"]
