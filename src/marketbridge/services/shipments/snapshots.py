"""The shared OR11 snapshot of marketplace orders, read before sending (see ``OrderSnapshots``),
and :class:`Or11Orders`, the shipments flow's order source when the order feed is off."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from marketbridge.adapters.errors import NotFound, RemoteError, TransientError
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import shipments as shipments_domain
from marketbridge.runtime import Runtime


class OrderSnapshots:
    """Marketplace orders read before sending, in batches: one OR11 call (``order_ids``, up to 100)
    reads the order being sent *and* every other order with a shipment due, so a burst of
    shipments costs one call instead of one call per shipment (OR11 is budgeted at about one call
    a minute per shop). A snapshot is used for ``ttl`` seconds at most, and is dropped as soon as
    we write to that order; a stale one can at worst make us send OR24 to an order shipped
    meanwhile, which the marketplace refuses and we then re-read (see ``send._send_single``).

    One read at a time per process: a send that misses the cache while a read is out (most of its
    time is the wait for OR11's turn) waits for that read and looks again, and only then reads
    itself, for every shipment due by then. Without this, each of the sends running side by side
    queued its own OR11 call behind the others: in the full soak's end-of-day wave the send workers
    all sat in OR11's queue, one shipment per call, and 351 shipments had not been attempted 24 s
    after the last one was found.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._orders: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._reading: threading.Event | None = None  # set when the read in progress is over
        self._missing: dict[str, float] = {}  # order id -> when a read asked for it and got nothing

    def forget(self, order_id: str) -> None:
        with self._lock:
            self._orders.pop(order_id, None)

    def get(self, runtime: Runtime, order_id: str) -> Any:
        asked = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                cached = self._orders.get(order_id)
                if cached is not None and now - cached[0] <= self.ttl:
                    return cached[1]
                if self._missing.get(order_id, float("-inf")) >= asked:
                    raise NotFound(f"order {order_id} not found", api="OR11", status=200)
                reading = self._reading
                if reading is None:
                    self._reading = done = threading.Event()
            if reading is not None:
                reading.wait()  # then look again: that read probably carried this order too
                continue
            try:
                return self._read(runtime, order_id)
            finally:
                with self._lock:
                    self._reading = None
                done.set()

    def _read(self, runtime: Runtime, order_id: str) -> Any:
        with runtime.shipments_store.unit_of_work() as repo:
            others = repo.orders_due_besides(order_id, 99)
        wanted = [order_id, *others]
        started = time.monotonic()
        found = {o.order_id: o for o in runtime.mirakl.list_orders(order_ids=wanted)}
        read_at = time.monotonic()
        with self._lock:
            for oid, order in found.items():
                self._orders[oid] = (read_at, order)
            for oid in wanted:
                if oid not in found:
                    self._missing[oid] = started
        if order_id not in found:
            raise NotFound(f"order {order_id} not found", api="OR11", status=200)
        return found[order_id]


def _snapshots(runtime: Runtime) -> OrderSnapshots:
    snapshots = runtime.extras.get("shipments.order_snapshots")
    if snapshots is None:
        snapshots = runtime.extras.setdefault("shipments.order_snapshots",
                                              OrderSnapshots(runtime.settings.shipment_order_read_ttl_seconds))
    return snapshots


def order_of(order: mirakl_models.Order) -> shipments_domain.MarketplaceOrder:
    """An OR11 order as the shipments flow decides on it."""
    return shipments_domain.MarketplaceOrder(
        order_id=order.order_id, state=order.order_state,
        lines=tuple(shipments_domain.MarketplaceLine(line.order_line_id, line.offer_sku, line.quantity,
                                                     line.order_line_state) for line in order.order_lines),
        shipping_deadline=order.shipping_deadline, tracking_number=order.shipping_tracking)


class Or11Orders:
    """:class:`~marketbridge.ports.ShipmentOrders` over OR11 (the order feed off): the batched
    snapshot before a send, every SHIPPING order for the watch, one order by id after a refused
    OR24. The answer of our own write confirms it (``confirms_by_reading`` is False)."""

    confirms_by_reading = False

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def get(self, order_id: str) -> shipments_domain.MarketplaceOrder:
        return order_of(_snapshots(self.runtime).get(self.runtime, order_id))

    def forget(self, order_id: str) -> None:
        _snapshots(self.runtime).forget(order_id)

    def awaiting_shipment(self) -> list[shipments_domain.MarketplaceOrder]:
        return [order_of(o) for o in self.runtime.mirakl.list_orders(order_state_codes=["SHIPPING"])]

    def recheck(self, order_id: str) -> shipments_domain.MarketplaceOrder | None:
        try:
            return order_of(self.runtime.mirakl.get_order(order_id))
        except TransientError:
            # We cannot tell whether it is shipped (OR11 rate-limited or down): a transient failure,
            # retried, not a rejection for ops. Found by the full soak: our own earlier OR24 had gone
            # through with its answer lost, and the check met OR11's rate limit.
            raise
        except RemoteError:
            return None

    def read_since(self, moment: dt.datetime) -> bool:
        return True
