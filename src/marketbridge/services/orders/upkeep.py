"""Housekeeping: held-order reminders before the acceptance deadline, stuck-order detection,
and the personal-data purge (rules in services/personal_data.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services import personal_data
from marketbridge.services.orders.pulling import _strip_personal
from marketbridge.services.orders.record import S, get_order_record


def housekeeping(runtime: Runtime, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Held-order reminders, stuck detection and the personal-data purge (services/personal_data.py)."""
    settings = runtime.settings
    now = now or utcnow()
    reminders = stuck_count = 0
    with runtime.db.session() as session:
        held = session.scalars(select(MarketplaceOrder).where(MarketplaceOrder.state == S.HELD.value)).all()
        for order in held:
            deadline = order.acceptance_deadline
            if deadline and orders_domain.reminder_due(deadline, now, settings.order_acceptance_reminder_seconds):
                minutes = int((deadline - now).total_seconds() // 60)
                issue_service.record(session, IssueReport(
                    orders_domain.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id,
                    f"Held order {order.order_id} is refused automatically in about {minutes} minutes "
                    f"(at {deadline.strftime('%Y-%m-%d %H:%M UTC')}).",
                    context={"acceptance_deadline": deadline.isoformat()}))
                order.reminded_at = now
                reminders += 1
        watched = list(orders_domain.STUCK_TYPES)
        for order in session.scalars(select(MarketplaceOrder).where(
                MarketplaceOrder.state.in_([s.value for s in watched]))).all():
            type_ = orders_domain.get_type_for_stuck(order.state)
            if orders_domain.stuck(order.state, order.state_changed_at, now, settings.order_stuck_max_age_seconds):
                hours = (now - order.state_changed_at).total_seconds() / 3600
                issue_service.record(session, IssueReport(
                    type_, order.order_id,
                    f"Order {order.order_id} has been {order.state.replace('_', ' ')} for {hours:.1f} hours.",
                    context={"state": order.state}))
                stuck_count += 1
        for state in watched:  # the condition cleared for orders that moved on
            for type_ in {orders_domain.get_type_for_stuck(state)}:
                for record_ in issue_service.list_records(session, issue_service.IssueFilter(type=type_.code, active_only=True)):
                    current = get_order_record(session, record_.object_id, settings.order_connection)
                    if current is None or current.state != record_.context.get("state"):
                        issue_service.clear(session, type_, record_.object_id)
        purged = personal_data.purge(session, settings, now)  # every retention rule, every state
    return {"reminders": reminders, "stuck": stuck_count, **purged}


def purge_personal_data(order: MarketplaceOrder, now: dt.datetime) -> None:
    order.customer_name = None
    order.shipping_address = None
    order.raw = _strip_personal(order.raw or {})
    order.personal_data_purged_at = now
