"""What needs doing: the orders that need a per-order workflow now, under deterministic ids.

Workflow ids are ``order-<phase>:<order_id>`` (``accept``, ``create``, ``cancel``), and
``order-create:<order_id>:retry-<n>`` for the n-th creation retry (a person's, or the automatic
one after waiting for stock), so repeated polls collapse onto the same workflow.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.domain import orders as orders_domain
from marketbridge.services import issues as issue_service
from marketbridge.services.orders.record import S, get_order_record
from marketbridge.settings import Settings


def workflow_id(phase: str, order: MarketplaceOrder) -> str:
    base = f"order-{phase}:{order.order_id}"
    if phase == "create" and order.create_attempt:
        return f"{base}:retry-{order.create_attempt}"
    return base


def retry_stock_waits(session: Session, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Orders waiting for stock whose last attempt is ``order_stock_retry_seconds`` old get a new
    creation attempt (a new workflow id, as a person's retry would); the next
    :func:`pending_actions` starts it. Returns the order ids."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings.order_stock_retry_seconds)
    retried: list[str] = []
    for record in session.scalars(select(IssueRecord).where(
            IssueRecord.type == orders_domain.ORDER_WAITING_FOR_STOCK.code, IssueRecord.state.in_(issue_service.ACTIVE_STATES),
            IssueRecord.last_seen <= cutoff)).all():
        order = get_order_record(session, record.object_id, settings.order_connection)
        if order is None or order.state != S.AWAITING_PAYMENT.value or order.magento_entity_id is not None:
            continue
        if int((record.context or {}).get("attempt", 0)) < order.create_attempt:
            continue  # the attempt asked for last time has not answered yet (it may be retrying a fault)
        order.create_attempt += 1
        record.last_seen = now  # the attempt itself re-records it when the stock is still missing
        retried.append(order.order_id)
    return retried


def pending_actions(session: Session, settings: Settings, limit: int = 5000) -> list[dict[str, str]]:
    """Orders that need a per-order workflow now: ``[{"phase", "order_id", "workflow_id"}]``.

    Filtered in SQL (state and marketplace state), so the many created orders waiting for shipment
    cost nothing on each poll."""
    wanted = {
        (S.RECEIVED.value, "WAITING_ACCEPTANCE"): "accept",
        (S.AWAITING_PAYMENT.value, "SHIPPING"): "create",
        # Past SHIPPING while we still hold it as awaiting payment: placed, then the worker was
        # killed before recording it, and the warehouse shipped it; creation finds and records it.
        **{(S.AWAITING_PAYMENT.value, mp): "create" for mp in ("SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED")},
        (S.CREATED.value, "CANCELED"): "cancel",
    }
    rows = session.execute(
        select(MarketplaceOrder.order_id, MarketplaceOrder.state, MarketplaceOrder.marketplace_state,
               MarketplaceOrder.create_attempt, MarketplaceOrder.shipping_address)
        .where(MarketplaceOrder.connection == settings.order_connection,
               or_(*[and_(MarketplaceOrder.state == state, MarketplaceOrder.marketplace_state == mp)
                     for state, mp in wanted]))
        .order_by(MarketplaceOrder.id).limit(limit)).all()
    out: list[dict[str, str]] = []
    for order_id, state, mp, attempt, address in rows:
        phase = wanted[(state, mp)]
        if phase == "create" and not address:
            continue  # order_address_missing is open; it is created when the address appears
        base = f"order-{phase}:{order_id}"
        workflow = f"{base}:retry-{attempt}" if phase == "create" and attempt else base
        out.append({"phase": phase, "order_id": order_id, "workflow_id": workflow})
    return out
