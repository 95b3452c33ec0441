"""Where the refunds follow reads marketplace orders (the :class:`~marketbridge.ports.refunds.FollowedOrders`
port), one implementation per setting of ``order_feed_enabled``; :mod:`marketbridge.bootstrap`
picks one, and a runtime built by hand (the unit tests) gets OR11, as before the feed existed.

* :class:`Or11Orders`: OR11 by ``order_ids`` (at most 100 a call) and by ``start_update_date``,
  each order as the feed's ``MirrorOrder`` (``services.order_feed.wire.mirror_of``, which drops
  the customer), so the follow has one model whichever the source;
* :class:`MirrorOrders`: the order feed's mirror (issue 20). No OR11 call: Mirakl allows one a
  minute per shop, and the feed makes it. A refund we sent (OR28) changes the order's
  ``last_updated_date``, so the feed's next read brings its confirmation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.services.order_feed.wire import mirror_of

if TYPE_CHECKING:
    from marketbridge.domain.order_feed import MirrorOrder
    from marketbridge.ports import MiraklPort, OrderFeedStore

#: OR11 takes at most 100 ``order_ids`` a call.
OR11_IDS = 100
#: Seconds added to the feed's next due read when waiting for it (a read takes a few seconds).
FEED_READ_SLACK = 5.0
#: A feed this many seconds past its due read, with no reader, is taken for stopped or stalled.
FEED_STALLED_AFTER = 30.0
#: The mirror's first page of changed orders; a pass that fills it asks again for four times more.
MIRROR_PAGE = 500


class Or11Orders:
    """The follow's orders read from OR11 (``order_feed_enabled`` off)."""

    reads_live = True

    def read_since(self, moment: dt.datetime) -> bool:
        return True

    def next_read_in(self, now: dt.datetime) -> float:
        return 0.0

    def __init__(self, mirakl: MiraklPort, acceptance_window_seconds: float) -> None:
        self.mirakl = mirakl
        self.window = acceptance_window_seconds

    def by_ids(self, order_ids: Sequence[str]) -> list[MirrorOrder]:
        found: list[MirrorOrder] = []
        for start in range(0, len(order_ids), OR11_IDS):
            batch = list(order_ids[start:start + OR11_IDS])
            found += [mirror_of(o, self.window) for o in self.mirakl.list_orders(order_ids=batch)]
        return found

    def updated_since(self, since: dt.datetime, now: dt.datetime) -> tuple[list[MirrorOrder], dt.datetime | None]:
        orders = [mirror_of(o, self.window) for o in self.mirakl.list_orders(start_update_date=since)]
        return orders, max((o.updated_at for o in orders), default=None)


class MirrorOrders:
    """The follow's orders read from the order feed's mirror (``order_feed_enabled`` on)."""

    reads_live = False

    def __init__(self, store: OrderFeedStore) -> None:
        self.store = store

    def read_since(self, moment: dt.datetime) -> bool:
        """The shipments flow's rule (``services.shipments.mirrored``): the feed's last read started
        at or after ``moment``, read at least one page and ended without an error (a read OR11
        refused before its first page records its times but read nothing)."""
        with self.store.mirror() as mirror:
            return mirror.status(utcnow()).read_completely_since(moment)

    def next_read_in(self, now: dt.datetime) -> float | None:
        """Until the feed's next read is due, plus a read's usual length; a read running now gets
        that slack alone. None when the feed never read, or is more than ``FEED_STALLED_AFTER``
        overdue with nobody reading: its schedule is off or stuck (a read waiting for OR11's slot
        holds the lease, so it is not taken for stalled)."""
        with self.store.mirror() as mirror:
            status = mirror.status(now)
        due = status.next_read_due
        if due is None:
            return None
        wait = (due - now).total_seconds()
        if wait < -FEED_STALLED_AFTER and status.reader is None:
            return None
        return max(wait, 0.0) + FEED_READ_SLACK

    def by_ids(self, order_ids: Sequence[str]) -> list[MirrorOrder]:
        """An order the mirror does not hold yet (the feed has not read it since it started) is
        left out: the refund we sent on it changed the order, so the feed's next read brings it."""
        with self.store.mirror() as mirror:
            return [order for order_id in order_ids if (order := mirror.get(order_id)) is not None]

    def updated_since(self, since: dt.datetime, now: dt.datetime) -> tuple[list[MirrorOrder], dt.datetime | None]:
        """Every row changed since ``since``. The port pages by a limit only (its order is by change
        time, which it does not hand out), so a full page is asked again with a larger limit."""
        limit = MIRROR_PAGE
        with self.store.mirror() as mirror:
            while True:
                orders = mirror.changed_since(since, limit=limit)
                if len(orders) < limit:
                    return orders, now
                limit *= 4


__all__ = ["FEED_READ_SLACK", "FEED_STALLED_AFTER", "MIRROR_PAGE", "MirrorOrders", "Or11Orders"]
