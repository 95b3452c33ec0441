"""Watch: orders near their shipping deadline with no shipment, and shipments not confirmed after a
while, become issues for Ops (and clear themselves when the cause is gone). The orders in SHIPPING
come from the flow's order source: OR11, or the order feed's mirror when it is on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import shipments as shipments_domain
from marketbridge.runtime import Runtime
from marketbridge.services.shipments.common import _orders, _record


@dataclass(frozen=True)
class WatchCounts:
    """How many orders are near their shipping deadline without a shipment, and how many
    shipments are unconfirmed for too long (each has an active issue)."""

    deadline_near: int
    unconfirmed: int

    def as_json(self) -> dict[str, int]:
        return {"deadline_near": self.deadline_near, "unconfirmed": self.unconfirmed}


def watch(runtime: Runtime, *, now: dt.datetime | None = None) -> WatchCounts:
    """Raise and clear ``shipping_deadline_near`` and ``shipment_unconfirmed``."""
    now = now or utcnow()
    settings = runtime.settings
    lead = dt.timedelta(hours=settings.shipping_deadline_lead_hours)
    limit = dt.timedelta(minutes=settings.shipment_unconfirmed_minutes)
    near = 0
    shipping = _orders(runtime).awaiting_shipment()  # OR11, or the order feed's mirror (no Mirakl call)
    with runtime.shipments_store.unit_of_work() as repo:
        issues = repo.issues
        with_shipment = repo.orders_with_a_shipment()
        seen = set()
        for order in shipping:
            seen.add(order.order_id)
            if order.order_id in with_shipment or not shipments_domain.deadline_near(order.shipping_deadline, now, lead):
                issues.clear(shipments_domain.SHIPPING_DEADLINE_NEAR, order.order_id)
                continue
            near += 1
            deadline = order.shipping_deadline.astimezone(dt.UTC) if order.shipping_deadline else None
            when = deadline.strftime("%d %b %Y %H:%M UTC") if deadline else "unknown"
            _record(issues, shipments_domain.SHIPPING_DEADLINE_NEAR, order.order_id,
                    f"John Lewis order {order.order_id} must be dispatched by {when} and has no shipment in "
                    "Adobe Commerce yet.", shipping_deadline=deadline.isoformat() if deadline else None)
        for object_id in issues.active_ids(shipments_domain.SHIPPING_DEADLINE_NEAR):
            if object_id not in seen:
                issues.clear(shipments_domain.SHIPPING_DEADLINE_NEAR, object_id)

        unconfirmed = 0
        open_ids = set()
        for row in repo.open_shipments():
            since = row.magento_created_at or row.detected_at
            if shipments_domain.unconfirmed_too_long(min(since, row.detected_at), now, limit):
                unconfirmed += 1
                open_ids.add(str(row.magento_shipment_id))
                minutes = int((now - min(since, row.detected_at)).total_seconds() // 60)
                _record(issues, shipments_domain.SHIPMENT_UNCONFIRMED, str(row.magento_shipment_id),
                        f"Shipment {row.magento_increment_id or row.magento_shipment_id} for John Lewis order "
                        f"{row.marketplace_order_id} was made {minutes} minutes ago and is still not confirmed "
                        f"(state: {row.state.replace('_', ' ')}).", detail=row.last_error,
                        order_id=row.marketplace_order_id, state=row.state)
        for object_id in issues.active_ids(shipments_domain.SHIPMENT_UNCONFIRMED):
            if object_id not in open_ids:
                issues.clear(shipments_domain.SHIPMENT_UNCONFIRMED, object_id)
    return WatchCounts(deadline_near=near, unconfirmed=unconfirmed)
