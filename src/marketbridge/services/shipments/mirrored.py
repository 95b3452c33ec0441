"""The shipments flow's order source when the order feed is on (issue 20): the feed's mirror.

:class:`MirrorOrders` implements :class:`~marketbridge.ports.ShipmentOrders` over the read port
:class:`~marketbridge.ports.OrderMirror` (``runtime.order_feed_store.mirror()``), so a send and
the deadline watch make **no OR11 call**. Everything they decide on is in the mirror already
(``domain.order_feed.MirrorOrder``): the state, each line's id, offer SKU, quantity and state, the
shipping deadline and the order's tracking number.

The mirror is as fresh as the feed's last read (about a minute; fifteen on an External Partner
key). So ``confirms_by_reading`` is True: a send does not confirm on OR24's answer but leaves the
shipment ``sent``, and the feed's next read that shows the order shipped confirms it
(``confirm.confirm_from_feed``). :meth:`read_since` tells whether the feed has read the
marketplace since a moment (the feed's last read started after it, read at least a page and
ended without an error): the rule that turns a refused OR24 into a rejection only once a read
after the refusal still shows the order unshipped.
"""

from __future__ import annotations

import datetime as dt

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.order_feed import MirrorOrder
from marketbridge.ports.order_feed import OrderFeedStore

#: The watch reads the SHIPPING orders in pages this size (the port's ``in_states`` takes a limit;
#: the limit grows until a page comes back short, so every SHIPPING order is seen).
WATCH_PAGE = 500


def order_of(order: MirrorOrder) -> shipments_domain.MarketplaceOrder:
    """A mirror order as the shipments flow decides on it."""
    return shipments_domain.MarketplaceOrder(
        order_id=order.order_id, state=order.state,
        lines=tuple(shipments_domain.MarketplaceLine(line.line_id, line.offer_sku, line.quantity, line.state)
                    for line in order.lines),
        shipping_deadline=order.shipping_deadline,
        tracking_number=order.tracking.number if order.tracking is not None else None)


class MirrorOrders:
    """:class:`~marketbridge.ports.ShipmentOrders` over the order feed's mirror (see the module doc)."""

    confirms_by_reading = True

    def __init__(self, store: OrderFeedStore, *, page: int = WATCH_PAGE) -> None:
        self.store = store
        self.page = page

    def get(self, order_id: str) -> shipments_domain.MarketplaceOrder | None:
        with self.store.mirror() as mirror:
            found = mirror.get(order_id)
        return order_of(found) if found is not None else None

    def forget(self, order_id: str) -> None:
        """Nothing is cached here: the mirror changes only with the feed's reads."""

    def awaiting_shipment(self) -> list[shipments_domain.MarketplaceOrder]:
        limit = self.page
        while True:
            with self.store.mirror() as mirror:
                found = mirror.in_states(["SHIPPING"], limit=limit)
            if len(found) < limit:
                return [order_of(order) for order in found]
            limit *= 2

    def recheck(self, order_id: str) -> shipments_domain.MarketplaceOrder | None:
        return self.get(order_id)

    def read_since(self, moment: dt.datetime) -> bool:
        with self.store.mirror() as mirror:
            return mirror.status(utcnow()).read_completely_since(moment)


__all__ = ["WATCH_PAGE", "MirrorOrders", "order_of"]
