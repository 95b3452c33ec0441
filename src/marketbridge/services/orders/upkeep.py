"""Housekeeping: held-order reminders before the acceptance deadline, stuck-order detection,
and the personal-data purge (rules in services/personal_data.py).

Storage goes through the orders storage port (:class:`marketbridge.ports.OrdersRepository`): the
issues it raises and clears through the repository's issue log, the retention pass through
``run_retention``; so the reminder and stuck rules run on an in-memory fake in unit tests.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.ports.orders import OrdersRepository
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services.orders.pulling import _strip_personal
from marketbridge.services.orders.record import S
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.orders import MarketplaceOrder


def housekeeping(runtime: Runtime, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Held-order reminders, stuck detection and the personal-data purge (services/personal_data.py),
    in one unit of work; how many of each (the scheduled workflow records this as its result)."""
    now = now or utcnow()
    with runtime.orders_store.unit_of_work() as orders:
        reminders = remind_held(orders, runtime.settings, now)
        stuck_count = flag_stuck(orders, runtime.settings, now)
        purged = orders.run_retention(runtime.settings, now)  # every retention rule, every state
    return {"reminders": reminders, "stuck": stuck_count, **purged}


def remind_held(orders: OrdersRepository, settings: Settings, now: dt.datetime) -> int:
    """Raise a reminder for each held order whose acceptance deadline is near: the marketplace
    refuses it by itself at the deadline, and a person has to decide before."""
    reminders = 0
    for order in orders.in_states([S.HELD.value], limit=None):
        deadline = order.acceptance_deadline
        if deadline and orders_domain.reminder_due(deadline, now, settings.order_acceptance_reminder_seconds):
            minutes = int((deadline - now).total_seconds() // 60)
            orders.issues.record(IssueReport(
                orders_domain.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id,
                f"Held order {order.order_id} is refused automatically in about {minutes} minutes "
                f"(at {deadline.strftime('%Y-%m-%d %H:%M UTC')}).",
                context={"acceptance_deadline": deadline.isoformat()}))
            order.reminded_at = now
            reminders += 1
    return reminders


def flag_stuck(orders: OrdersRepository, settings: Settings, now: dt.datetime) -> int:
    """Raise a stuck issue for each order too long in a watched state, then clear those of orders
    that have moved on (their state differs from the one the issue was raised in)."""
    stuck_count = 0
    watched = list(orders_domain.STUCK_TYPES)
    for order in orders.in_states([s.value for s in watched], limit=None):
        type_ = orders_domain.get_type_for_stuck(order.state)
        if orders_domain.stuck(order.state, order.state_changed_at, now, settings.order_stuck_max_age_seconds):
            hours = (now - order.state_changed_at).total_seconds() / 3600
            orders.issues.record(IssueReport(
                type_, order.order_id,
                f"Order {order.order_id} has been {order.state.replace('_', ' ')} for {hours:.1f} hours.",
                context={"state": order.state}))
            stuck_count += 1
    for type_ in {orders_domain.get_type_for_stuck(state) for state in watched}:
        for issue in orders.active_issues_on_orders(type_.code, issue_service.ACTIVE_STATES):
            current = orders.order(issue.order_id, settings.order_connection)
            if current is None or current.state != issue.state:
                orders.issues.clear(type_, issue.order_id)
    return stuck_count


def purge_personal_data(order: MarketplaceOrder, now: dt.datetime) -> None:
    """Remove the customer from the order record (name, address, the OR11 payload's customer part);
    the order itself stays for the books."""
    order.customer_name = None
    order.shipping_address = None
    order.raw = _strip_personal(order.raw or {})
    order.personal_data_purged_at = now
