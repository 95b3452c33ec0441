"""DBOS workflow of the order feed (issue 20): a thin durable shell around
:mod:`marketbridge.services.order_feed`.

``orders.feed`` (scheduled only when ``order_feed_enabled``; the schedule is
``services.order_feed.pace.tick`` of the feed's interval): step ``orders.feed.read`` reads OR11
(a window longer than ``order_feed_export_after_seconds``: the order export, OR13-OR15) into the
mirror and the outbox, and hands every order it read to the orders flow
(``bus.StoreMarketplaceOrders``: the orders poll reads no OR11 of its own while the feed is on);
when that stored new or newer orders, ``bus.MarketplaceOrdersStored`` starts the orders poll at
once; then step ``orders.feed.dispatch`` publishes the stored changes on the bus. When another worker holds the feed's lease the run does nothing: that worker reads and
dispatches. A run whose read fails after its retries ends in ERROR; the cursor did not move, so
the next tick reads the same window again (nothing is lost, nothing published twice from it).

Every run is named ``orders.*``, so the dashboard counts it with the orders flow.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from marketbridge.bus import MarketplaceOrdersStored
from marketbridge.runtime import get_runtime
from marketbridge.services import order_feed as feed_service
from marketbridge.services.order_feed import pace
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

QUEUES: list[dict[str, Any]] = []


@DBOS.step(name="orders.feed.read", retries_allowed=True, max_attempts=3, interval_seconds=2.0)
def read_step() -> dict[str, Any]:
    return feed_service.read(get_runtime()).as_dict()


@DBOS.step(name="orders.feed.dispatch", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def dispatch_step() -> dict[str, Any]:
    return feed_service.dispatch(get_runtime()).as_dict()


@flow_workflow(name="orders.feed")
def feed_workflow(scheduled_time: Any = None, context: Any = None) -> dict[str, Any]:
    read = read_step()
    if read.get("skipped") == "another worker reads":
        return {"read": read, "dispatch": None}
    if read.get("orders_new") or read.get("orders_updated"):
        # decide and create now, not at the orders poll's next tick (payment -> Adobe Commerce)
        get_runtime().bus.handle(MarketplaceOrdersStored(new=int(read.get("orders_new") or 0),
                                                         updated=int(read.get("orders_updated") or 0)))
    return {"read": read, "dispatch": dispatch_step()}


def at_start(settings: Settings) -> None:
    """Called by the engine once it has launched with schedules: free the lease this worker's
    previous process held if it was killed mid-read, so the first tick reads at once."""
    if settings.order_feed_enabled:
        feed_service.release_stale_lease(get_runtime())


def schedules(settings: Settings) -> list[dict[str, Any]]:
    if not settings.order_feed_enabled:
        return []
    return [{"schedule_name": "orders.feed", "workflow_fn": feed_workflow,
             "schedule": pace.tick(pace.interval_seconds(settings)).cron}]
