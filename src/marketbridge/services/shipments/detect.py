"""Detect: a Magento shipment of a marketplace order (``ext_order_id``) is written to
``shipments_out`` (through the flow's storage port) before anything acts on it, found by polling
(entity-id cursor ``magento.shipments.entity_id``, moved page by page after the rows it passes are
committed) or by a webhook hint. Tracks added later do not change a shipment's ``updated_at`` in Magento, so recent
unconfirmed shipments are re-read (``recheck_tracks``).

Remote failures follow ``adapters.errors``: ``TransientError`` propagates so the durable step
retries it with backoff.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.adapters.errors import NotFound
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import ShipmentState
from marketbridge.ports import ShipmentsRepository
from marketbridge.runtime import Runtime

log = structlog.get_logger(__name__)

CURSOR_NAME = "magento.shipments.entity_id"
# The Adobe Commerce events that say a shipment (or its tracking) was saved, by prefix: the
# webhook module's ``observer.*`` names and Adobe I/O Events' ``com.adobe.commerce.observer.*``.
SHIPMENT_EVENTS = ("observer.sales_order_shipment", "com.adobe.commerce.observer.sales_order_shipment")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _tracks_wire(shipment: Any) -> list[dict[str, Any]]:
    return [{"track_number": (t.track_number or "").strip(), "title": t.title or "", "carrier_code": t.carrier_code or "",
             "created_at": t.created_at or ""} for t in shipment.tracks]


def record_shipment(repo: ShipmentsRepository, shipment: Any, ext_order_id: str) -> tuple[ShipmentOut, bool]:
    """Write (or refresh the tracks of) one Magento shipment of a marketplace order.

    Returns the row and whether something changed that needs a (new) send: the row is new, or
    its tracks changed while it was not yet confirmed.
    """
    row = repo.shipment(shipment.entity_id)
    tracks = _tracks_wire(shipment)
    if row is None:
        # Insert-if-absent: the poll and a webhook's detect can find the same new shipment at the
        # same moment (the soak saw polls fail on the unique id); the second one updates instead.
        inserted = repo.add_shipment_if_absent({
            "magento_shipment_id": shipment.entity_id, "magento_increment_id": shipment.increment_id or "",
            "magento_order_id": shipment.order_id, "marketplace_order_id": ext_order_id,
            "state": ShipmentState.NEW.value, "tracks": tracks,
            "items": [{"order_item_id": i.order_item_id, "sku": i.sku or "", "qty": i.qty} for i in shipment.items],
            "lines": {}, "results": {}, "last_error": "", "generation": 1, "attempts": 0,
            "magento_created_at": _parse_time(shipment.created_at), "detected_at": utcnow(),
        })
        row = repo.shipment(shipment.entity_id)
        assert row is not None
        if inserted:
            log.info("shipment.detected", shipment=shipment.entity_id, order=ext_order_id)
            return row, True
    if tracks != row.tracks:
        row.tracks = tracks
        reopen = row.state in (ShipmentState.WAITING_TRACKING.value, ShipmentState.WAITING_CARRIER.value,
                               ShipmentState.ERROR.value, ShipmentState.PARTIAL.value)
        if reopen or (row.state == ShipmentState.CONFIRMED.value and _tracking_changed(row)):
            row.state = ShipmentState.READY.value
            row.generation += 1
            return row, True
    return row, False


def _tracking_changed(row: ShipmentOut) -> bool:
    """A confirmed shipment whose newest tracking number is not the one we sent (a correction)."""
    track = shipments_domain.pick_tracking([shipments_domain.Track.from_wire(t) for t in row.tracks])
    return track is not None and row.tracking_number is not None and track.track_number != row.tracking_number


class _OrderCache:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.orders: dict[int, Any] = {}

    def ext_order_id(self, order_id: int) -> str | None:
        """The marketplace order id of a Magento order; None when it has none or is gone."""
        if order_id not in self.orders:
            try:
                self.orders[order_id] = self.runtime.magento.get_order(order_id)
            except NotFound:
                log.warning("shipment.order_not_found", magento_order_id=order_id)
                self.orders[order_id] = None
        order = self.orders[order_id]
        return order.ext_order_id if order is not None else None


def detect_shipment(runtime: Runtime, shipment_id: int) -> int | None:
    """Read one Magento shipment (a webhook hint) and record it. Returns its id when a send is
    due, None when nothing is to do (not a marketplace order, or nothing changed)."""
    shipment = runtime.magento.get_shipment(shipment_id)
    order = runtime.magento.get_order(shipment.order_id)
    if not order.ext_order_id:
        return None
    with runtime.shipments_store.unit_of_work() as repo:
        row, changed = record_shipment(repo, shipment, order.ext_order_id)
        return row.magento_shipment_id if changed else None


def poll_new_shipments(runtime: Runtime, *, page_size: int = 100) -> list[int]:
    """Read Magento shipments after the entity-id cursor; store those of marketplace orders.

    The cursor moves only after the rows it passes are committed, page by page.
    """
    due: list[int] = []
    orders = _OrderCache(runtime)
    with runtime.shipments_store.unit_of_work() as repo:
        cursor = repo.cursor(CURSOR_NAME)
        after = int(cursor) if cursor is not None else 0
    batch: list[Any] = []

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        # Adobe Commerce first, then one transaction: a remote call inside it would hold our write
        # lock for as long as Magento takes to answer (seconds under faults, with retries), and on
        # SQLite every other writer would wait (the full soak ran out of pool connections).
        resolved = [(shipment, orders.ext_order_id(shipment.order_id)) for shipment in batch]
        with runtime.shipments_store.unit_of_work() as repo:
            for shipment, ext in resolved:
                if ext:
                    row, changed = record_shipment(repo, shipment, ext)
                    if changed:
                        due.append(row.magento_shipment_id)
            repo.move_cursor(CURSOR_NAME, str(batch[-1].entity_id))
        batch = []

    for shipment in runtime.magento.iterate_shipments(after_entity_id=after or None, page_size=page_size):
        batch.append(shipment)
        if len(batch) >= page_size:
            flush()
    flush()
    return due


def recheck_tracks(runtime: Runtime, *, now: dt.datetime | None = None) -> list[int]:
    """Re-read recent unconfirmed shipments: tracks added later (they do not change the shipment's
    ``updated_at`` in Magento, so only a re-read finds them)."""
    now = now or utcnow()
    since = now - dt.timedelta(hours=runtime.settings.shipment_recheck_hours)
    with runtime.shipments_store.unit_of_work() as repo:
        ids = repo.ids_to_recheck(since)
    due = []
    for shipment_id in ids:
        try:
            shipment = runtime.magento.get_shipment(shipment_id)
        except NotFound:
            continue
        with runtime.shipments_store.unit_of_work() as repo:
            row = repo.shipment(shipment_id)
            if row is None:
                continue
            _, changed = record_shipment(repo, shipment, row.marketplace_order_id)
            if changed:
                due.append(shipment_id)
    return due


def due_for_send(runtime: Runtime) -> list[tuple[int, int]]:
    """(shipment id, generation) of every row a send workflow should run for: new or ready."""
    with runtime.shipments_store.unit_of_work() as repo:
        return repo.due_for_send()
