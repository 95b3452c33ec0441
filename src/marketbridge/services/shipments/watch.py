"""Watch: orders near their shipping deadline with no shipment, and shipments not confirmed after a
while, become issues for Ops (and clear themselves when the cause is gone)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.domain import shipments as shipments_domain
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services.shipments.common import _report


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
    shipping = list(runtime.mirakl.list_orders(order_state_codes=["SHIPPING"]))
    with runtime.db.session() as session:
        with_shipment = set(session.scalars(select(ShipmentOut.marketplace_order_id).distinct()).all())
        seen = set()
        for order in shipping:
            seen.add(order.order_id)
            if order.order_id in with_shipment or not shipments_domain.deadline_near(order.shipping_deadline, now, lead):
                issue_service.clear(session, shipments_domain.SHIPPING_DEADLINE_NEAR, order.order_id)
                continue
            near += 1
            deadline = order.shipping_deadline.astimezone(dt.UTC) if order.shipping_deadline else None
            when = deadline.strftime("%d %b %Y %H:%M UTC") if deadline else "unknown"
            _report(session, shipments_domain.SHIPPING_DEADLINE_NEAR, order.order_id,
                    f"John Lewis order {order.order_id} must be dispatched by {when} and has no shipment in "
                    "Adobe Commerce yet.", shipping_deadline=deadline.isoformat() if deadline else None)
        for record_ in issue_service.list_records(session, issue_service.IssueFilter(
                type=shipments_domain.SHIPPING_DEADLINE_NEAR.code, active_only=True)):
            if record_.object_id not in seen:
                issue_service.clear(session, shipments_domain.SHIPPING_DEADLINE_NEAR, record_.object_id)

        unconfirmed = 0
        rows = session.scalars(select(ShipmentOut).where(ShipmentOut.state.in_(shipments_domain.OPEN_STATES))).all()
        open_ids = set()
        for row in rows:
            since = row.magento_created_at or row.detected_at
            if shipments_domain.unconfirmed_too_long(min(since, row.detected_at), now, limit):
                unconfirmed += 1
                open_ids.add(str(row.magento_shipment_id))
                minutes = int((now - min(since, row.detected_at)).total_seconds() // 60)
                _report(session, shipments_domain.SHIPMENT_UNCONFIRMED, str(row.magento_shipment_id),
                        f"Shipment {row.magento_increment_id or row.magento_shipment_id} for John Lewis order "
                        f"{row.marketplace_order_id} was made {minutes} minutes ago and is still not confirmed "
                        f"(state: {row.state.replace('_', ' ')}).", detail=row.last_error,
                        order_id=row.marketplace_order_id, state=row.state)
        for record_ in issue_service.list_records(session, issue_service.IssueFilter(
                type=shipments_domain.SHIPMENT_UNCONFIRMED.code, active_only=True)):
            if record_.object_id not in open_ids:
                issue_service.clear(session, shipments_domain.SHIPMENT_UNCONFIRMED, record_.object_id)
    return WatchCounts(deadline_near=near, unconfirmed=unconfirmed)
