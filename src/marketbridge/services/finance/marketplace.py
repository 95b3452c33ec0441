"""The finance report's marketplace reads (:class:`~marketbridge.ports.finance.FinanceOrders`), one
implementation per setting of ``order_feed_enabled``; :mod:`marketbridge.bootstrap` picks one,
and a runtime built by hand gets OR11, as before the feed existed.

* :class:`Or11FinanceOrders`: OR11 by creation date (``start_date``/``end_date``), and OR11 by
  ``order_ids`` for the ids Adobe Commerce carries that the month does not hold;
* :class:`FeedFinanceOrders` (issue 20: no OR11 call): the month's orders through the
  asynchronous export OR13–OR15, the route Mirakl documents for volume, and the ids through the
  order feed's mirror.

The export is asked with two ranges: creation ``[start, end)`` (what the month holds) and last
update from ``start`` to now. Every order created in the month was updated at or after its
creation, so the second range removes nothing, and it makes the export *differential*: Mirakl
allows one every 5 minutes, where a full export (creation range alone) is allowed once a day.
An id the mirror does not hold may belong to an order older than the feed: it is reported as
missing on the marketplace *with a note saying it could not be checked*, never silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.ports.finance import KnownOrders

if TYPE_CHECKING:
    from marketbridge.ports import MiraklPort, OrderFeedStore


#: The note on an id neither the month's export nor the mirror holds.
UNVERIFIED = ("not created on the marketplace this month (order export) and not in the order feed's mirror, which "
              "holds only the orders updated since the feed began reading: an older marketplace order is not ruled "
              "out, check it on John Lewis")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class Or11FinanceOrders:
    def __init__(self, mirakl: MiraklPort) -> None:
        self.mirakl = mirakl

    def created_between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        params = {"start_date": _iso(start), "end_date": _iso(end - dt.timedelta(seconds=1))}
        return list(self.mirakl.iter_offset("OR11", params))

    def known(self, order_ids: Sequence[str]) -> KnownOrders:
        found: set[str] = set()
        for start in range(0, len(order_ids), 100):
            found |= {o.order_id for o in self.mirakl.list_orders(order_ids=list(order_ids[start:start + 100]))}
        return KnownOrders(known=frozenset(found))


class FeedFinanceOrders:
    """``mirakl`` gives the client at each use (the runtime builds it on first use)."""

    def __init__(self, mirakl: Callable[[], MiraklPort], feed: OrderFeedStore, *,
                 now: Callable[[], dt.datetime] | None = None, export_timeout: float = 3600.0) -> None:
        self.mirakl = mirakl
        self.feed = feed
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.export_timeout = export_timeout

    def created_between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        now = max(self.now(), start)
        request = mirakl_models.OrderExportRequest(
            start_date=start, end_date=end - dt.timedelta(seconds=1), start_update_date=start, end_update_date=now)
        return [order.model_dump(mode="json")
                for order in self.mirakl().export_orders(request, timeout=self.export_timeout)]

    def known(self, order_ids: Sequence[str]) -> KnownOrders:
        with self.feed.mirror() as mirror:
            found = {order_id for order_id in order_ids if mirror.get(order_id) is not None}
        return KnownOrders(known=frozenset(found), unverified=frozenset(order_ids) - found, why=UNVERIFIED)


__all__ = ["UNVERIFIED", "FeedFinanceOrders", "Or11FinanceOrders"]
