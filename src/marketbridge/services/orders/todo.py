"""What needs doing: the orders that need a per-order workflow now, under deterministic ids.

Workflow ids are ``order-<phase>:<order_id>`` (``accept``, ``create``, ``cancel``), and
``order-create:<order_id>:retry-<n>`` for the n-th creation retry (a person's, or the automatic
one after waiting for stock), so repeated polls collapse onto the same workflow.

Reads and writes go through the orders storage port (:class:`marketbridge.ports.OrdersRepository`),
so these rules run on an in-memory fake in unit tests (tests/unit/test_orders_flow.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.orders import OrderState
from marketbridge.ports.orders import OrdersRepository
from marketbridge.services import issues as issue_service
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.orders import MarketplaceOrder

S = OrderState

#: (our state, the marketplace's state) -> the phase whose workflow the order needs.
WANTED: dict[tuple[str, str], str] = {
    (S.RECEIVED.value, "WAITING_ACCEPTANCE"): "accept",
    (S.AWAITING_PAYMENT.value, "SHIPPING"): "create",
    # Past SHIPPING while we still hold it as awaiting payment: placed, then the worker was
    # killed before recording it, and the warehouse shipped it; creation finds and records it.
    **{(S.AWAITING_PAYMENT.value, mp): "create" for mp in ("SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED")},
    (S.CREATED.value, "CANCELED"): "cancel",
}


@dataclass(frozen=True)
class PendingAction:
    """One per-order workflow to start: the phase, the order and the workflow's deterministic id."""

    phase: str
    order_id: str
    workflow_id: str

    def as_dict(self) -> dict[str, str]:
        """As the poll workflow's step records it (DBOS keeps step outputs; the shape is kept so
        that a poll recorded before this change still recovers)."""
        return asdict(self)


def _workflow_id(phase: str, order_id: str, create_attempt: int) -> str:
    base = f"order-{phase}:{order_id}"
    return f"{base}:retry-{create_attempt}" if phase == "create" and create_attempt else base


def workflow_id(phase: str, order: MarketplaceOrder) -> str:
    return _workflow_id(phase, order.order_id, order.create_attempt)


def retry_stock_waits(orders: OrdersRepository, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Orders waiting for stock whose last attempt is ``order_stock_retry_seconds`` old get a new
    creation attempt (a new workflow id, as a person's retry would); the next
    :func:`pending_actions` starts it. Returns the order ids."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings.order_stock_retry_seconds)
    retried: list[str] = []
    for wait in orders.stock_waits_due(orders_domain.ORDER_WAITING_FOR_STOCK.code, issue_service.ACTIVE_STATES, cutoff):
        order = orders.order(wait.order_id, settings.order_connection)
        if order is None or order.state != S.AWAITING_PAYMENT.value or order.magento_entity_id is not None:
            continue
        if wait.attempt < order.create_attempt:
            continue  # the attempt asked for last time has not answered yet (it may be retrying a fault)
        order.create_attempt += 1
        orders.touch_issue(wait.issue_id, now)  # the attempt itself re-records it when the stock is still missing
        retried.append(order.order_id)
    return retried


def pending_actions(orders: OrdersRepository, settings: Settings, limit: int = 5000) -> list[PendingAction]:
    """Orders that need a per-order workflow now.

    Filtered in the query (state and marketplace state), so the many created orders waiting for
    shipment cost nothing on each poll."""
    out: list[PendingAction] = []
    for candidate in orders.workflow_candidates(settings.order_connection, list(WANTED), limit=limit):
        phase = WANTED[(candidate.state, candidate.marketplace_state)]
        if phase == "create" and not candidate.has_address:
            continue  # order_address_missing is open; it is created when the address appears
        out.append(PendingAction(phase, candidate.order_id,
                                 _workflow_id(phase, candidate.order_id, candidate.create_attempt)))
    return out
