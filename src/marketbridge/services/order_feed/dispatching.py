"""Publishing the feed's stored changes on the bus (the outbox's second half).

:func:`dispatch` takes the undispatched events oldest first, publishes each as a
:class:`marketbridge.bus.MarketplaceOrderChanged`, then marks the batch dispatched. A crash between
the two publishes the batch again on the next run: delivery is **at least once**, so every handler
must be idempotent (act on what the mirror says now, keyed on the order and the event id, never
on "this message arrived"). The bus isolates a failing handler (it is logged; the event still
counts as dispatched): as for every bus event, the flows keep a backstop that catches up.

Only the lease holder dispatches, so two workers do not publish the same batch at the same time;
no transaction is held while handlers run (on SQLite a handler that writes would wait for it).
"""

from __future__ import annotations

import datetime as dt

from marketbridge.adapters.db.base import utcnow
from marketbridge.bus import MarketplaceOrderChanged
from marketbridge.runtime import Runtime
from marketbridge.services.order_feed.reading import new_owner
from marketbridge.services.order_feed.results import DispatchResult

BATCH = 500


def dispatch(runtime: Runtime, *, batch: int = BATCH) -> DispatchResult:
    """Publish every undispatched event, oldest first (see the module doc)."""
    store = runtime.order_feed_store
    owner = new_owner(runtime)
    lease = dt.timedelta(seconds=runtime.settings.order_feed_lease_seconds)
    result = DispatchResult()
    now = utcnow()
    with store.unit_of_work() as feed:
        if not feed.take_lease(owner, now, now + lease):
            result.skipped = "another worker reads"
            return result
    try:
        while True:
            with store.unit_of_work() as feed:
                now = utcnow()
                if not feed.hold_lease(owner, now, now + lease):
                    result.skipped = "another worker took over"
                    return result
                pending = feed.undispatched(batch)
            if not pending:
                return result
            for event in pending:
                runtime.bus.handle(MarketplaceOrderChanged(event_id=event.id, order_id=event.order_id,
                                                           kind=event.kind.value, detail=dict(event.detail),
                                                           recorded_at=event.created_at))
                result.published += 1
                result.by_kind[event.kind.value] += 1
            with store.unit_of_work() as feed:
                feed.mark_dispatched([event.id for event in pending], utcnow())
    finally:
        with store.unit_of_work() as feed:
            feed.release_lease(owner)


__all__ = ["BATCH", "dispatch"]
