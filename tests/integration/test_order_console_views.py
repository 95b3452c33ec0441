"""The orders flow's console views (issue 18 moved them out of the web layer): which states count,
and the deadline ordering."""

from __future__ import annotations

import datetime as dt

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.domain.orders import OrderState
from marketbridge.services.orders import views


def _order(runtime, order_id: str, state: OrderState, **extra) -> MarketplaceOrder:
    now = utcnow()
    return MarketplaceOrder(connection=runtime.settings.order_connection, order_id=order_id, state=state.value,
                            marketplace_state="WAITING_ACCEPTANCE", marketplace_updated_at=now,
                            marketplace_created_at=now, currency="GBP", total_price=1.0, **extra)


def test_awaiting_decision_nearest_acceptance_deadline_first_and_none_last(runtime):
    now = utcnow()
    with runtime.db.session() as s:
        s.add(_order(runtime, "NO-DEADLINE", OrderState.HELD))
        s.add(_order(runtime, "LATER", OrderState.RECEIVED, acceptance_deadline=now + dt.timedelta(hours=5)))
        s.add(_order(runtime, "SOON", OrderState.HELD, acceptance_deadline=now + dt.timedelta(hours=1)))
        s.add(_order(runtime, "DECIDED", OrderState.ACCEPTED, acceptance_deadline=now))
    with runtime.db.session() as s:
        found = views.awaiting_decision(SqlOrdersRepository(s), now)
        assert [d.order.order_id for d in found] == ["SOON", "LATER", "NO-DEADLINE"]
        assert found[0].seconds_left == 3600 and found[2].seconds_left is None


def test_to_ship_by_shipping_deadline_only_open_orders_with_a_deadline(runtime):
    now = utcnow()
    with runtime.db.session() as s:
        s.add(_order(runtime, "LATE", OrderState.CREATED, raw={"shipping_deadline": (now - dt.timedelta(hours=1)).isoformat()}))
        s.add(_order(runtime, "NEXT", OrderState.ACCEPTED, raw={"shipping_deadline": (now + dt.timedelta(hours=2)).isoformat()}))
        s.add(_order(runtime, "NONE", OrderState.CREATED, raw={}))
        s.add(_order(runtime, "SHIPPED", OrderState.SHIPPED, raw={"shipping_deadline": now.isoformat()}))
    with runtime.db.session() as s:
        found = views.to_ship_by_deadline(SqlOrdersRepository(s), now)
        assert [d.order.order_id for d in found] == ["LATE", "NEXT"]
        assert found[0].seconds_left == -3600
        assert views.counts_by_state(SqlOrdersRepository(s)) == {"created": 2, "accepted": 1, "shipped": 1}
