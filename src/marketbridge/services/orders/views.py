"""Reading: order records as our JSON API and CLI show them.

:class:`OrderSummary` (``GET /api/orders``, ``marketbridge orders list --json``) and
:class:`OrderDetail` (``GET /api/orders/{order_id}``, ``orders show --json``): the response models
of the JSON routes, so /openapi.json describes them. Amounts are JSON numbers (``19.99``), as they
have always been, converted from the stored ``Decimal`` at this last step by ``wire_number``;
timestamps are ISO 8601 strings as ``datetime.isoformat`` writes them (``+00:00``).

The reads go through the orders storage port (:class:`marketbridge.ports.OrdersRepository`): the
web layer and the CLI open ``runtime.orders_store.unit_of_work()`` and hand the repository in, so
these views run on an in-memory fake in unit tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.domain.money import wire_number
from marketbridge.domain.orders import ORDER_STUCK_IN_INTEGRATION, ORDER_STUCK_UNSHIPPED, OrderState
from marketbridge.domain.times import as_datetime
from marketbridge.ports.orders import OrdersRepository
from marketbridge.settings import Settings


def list_orders(orders: OrdersRepository, settings: Settings, *, state: str | None = None, limit: int = 100,
                offset: int = 0) -> list[MarketplaceOrder]:
    """This connection's orders, newest first, with their lines."""
    return list(orders.list_orders(settings.order_connection, state=state, limit=limit, offset=offset))


class OrderTotals(BaseModel):
    subtotal: float | None
    shipping: float | None
    grand_total: float | None


class OrderSummary(BaseModel):
    """An order as a list shows it."""

    order_id: str
    connection: str
    commercial_id: str | None
    state: str
    state_changed_at: str | None
    marketplace_state: str | None
    currency: str | None
    marketplace_totals: OrderTotals
    magento_entity_id: int | None
    magento_increment_id: str | None
    acceptance_deadline: str | None
    reason: str | None
    received_at: str | None
    marketplace_updated_at: str | None


class OrderLineView(BaseModel):
    order_line_id: str
    offer_sku: str | None
    magento_sku: str | None
    sku_match: str | None
    quantity: int
    unit_price: float | None
    price: float | None
    shipping_price: float | None
    marketplace_state: str | None
    accepted: bool | None
    reasons: list[str] | None


class TransitionView(BaseModel):
    """One timestamped move of the order's state (``from`` is null for the first)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str
    at: str | None
    actor: str | None
    facts: dict[str, Any] | None


class OrderDetail(OrderSummary):
    """One order with its Adobe Commerce totals, decision, lines and history."""

    magento_totals: dict[str, Any]
    decision: dict[str, Any]
    customer_debited_at: str | None
    personal_data_purged_at: str | None
    lines: list[OrderLineView]
    transitions: list[TransitionView]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _summary_fields(order: MarketplaceOrder) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "connection": order.connection,
        "commercial_id": order.commercial_id,
        "state": order.state,
        "state_changed_at": _iso(order.state_changed_at),
        "marketplace_state": order.marketplace_state,
        "currency": order.currency,
        "marketplace_totals": OrderTotals(subtotal=wire_number(order.subtotal),
                                          shipping=wire_number(order.shipping_price),
                                          grand_total=wire_number(order.total_price)),
        "magento_entity_id": order.magento_entity_id,
        "magento_increment_id": order.magento_increment_id,
        "acceptance_deadline": _iso(order.acceptance_deadline),
        "reason": order.reason,
        "received_at": _iso(order.received_at),
        "marketplace_updated_at": _iso(order.marketplace_updated_at),
    }


def order_summary(order: MarketplaceOrder) -> OrderSummary:
    return OrderSummary(**_summary_fields(order))


def order_detail(order: MarketplaceOrder) -> OrderDetail:
    return OrderDetail(
        **_summary_fields(order),
        magento_totals=order.magento_totals or {},
        decision=order.decision or {},
        customer_debited_at=_iso(order.customer_debited_at),
        personal_data_purged_at=_iso(order.personal_data_purged_at),
        lines=[OrderLineView(
            order_line_id=line.order_line_id, offer_sku=line.offer_sku, magento_sku=line.magento_sku,
            sku_match=line.sku_match, quantity=line.quantity, unit_price=wire_number(line.unit_price),
            price=wire_number(line.price), shipping_price=wire_number(line.shipping_price),
            marketplace_state=line.marketplace_state, accepted=line.accepted, reasons=line.reasons,
        ) for line in order.lines],
        transitions=[TransitionView(from_=t.from_state, to=t.to_state, at=_iso(t.at), actor=t.actor, facts=t.facts)
                     for t in order.transitions],
    )


def find_order_detail(orders: OrdersRepository, settings: Settings, order_id: str) -> OrderDetail | None:
    """One order of this connection as ``GET /api/orders/{order_id}`` and ``orders show`` show it;
    None when there is none. Built inside the caller's unit of work (the history is read here)."""
    order = orders.order(order_id, settings.order_connection)
    return order_detail(order) if order is not None else None


def to_dict(order: MarketplaceOrder, *, detail: bool = False) -> dict[str, Any]:
    """An order as our JSON API and CLI show it (:class:`OrderSummary`, or :class:`OrderDetail`
    with ``detail``), as a JSON object."""
    view: OrderSummary = order_detail(order) if detail else order_summary(order)
    return view.model_dump(by_alias=True)


# --- the console's orders page (issue 18: the web layer renders, the flow reads) ---------------------

#: The states the console shows, in the order of an order's life.
CONSOLE_STAGES: tuple[OrderState, ...] = (
    OrderState.RECEIVED, OrderState.HELD, OrderState.ACCEPTED, OrderState.AWAITING_PAYMENT, OrderState.CREATED,
    OrderState.SHIPPED, OrderState.REFUNDED, OrderState.REFUSED, OrderState.CANCELLED, OrderState.CLOSED,
)
#: Orders waiting for an accept/refuse decision.
AWAITING_DECISION: tuple[OrderState, ...] = (OrderState.HELD, OrderState.RECEIVED)
#: Orders accepted and not shipped yet: they have a shipping deadline to meet.
TO_SHIP: tuple[OrderState, ...] = (OrderState.ACCEPTED, OrderState.AWAITING_PAYMENT, OrderState.CREATED)
#: The issues that say an order is stuck in one stage.
STUCK_ISSUES = (ORDER_STUCK_IN_INTEGRATION, ORDER_STUCK_UNSHIPPED)


@dataclass(frozen=True)
class DeadlineOrder:
    """An order and the seconds left to its deadline (negative: passed; None: no deadline)."""

    order: MarketplaceOrder
    seconds_left: float | None


def counts_by_state(orders: OrdersRepository) -> dict[str, int]:
    """Orders per state (only the states present)."""
    return dict(orders.counts_by_state())


def awaiting_decision(orders: OrdersRepository, now: dt.datetime, *, limit: int = 100) -> list[DeadlineOrder]:
    """Held and received orders, the nearest acceptance deadline first (no deadline last)."""
    rows = orders.by_acceptance_deadline([s.value for s in AWAITING_DECISION], limit=limit)
    return [DeadlineOrder(o, (o.acceptance_deadline - now).total_seconds() if o.acceptance_deadline else None)
            for o in rows]


def search_orders(orders: OrdersRepository, *, state: str | None = None, q: str | None = None,
                  limit: int = 100) -> list[MarketplaceOrder]:
    """Newest first; ``q`` matches part of the marketplace order id or the Adobe Commerce increment id
    (literally: ``%`` and ``_`` are not wildcards)."""
    return list(orders.search(state=state or None, q=(q or "").strip() or None, limit=limit))


def to_ship_by_deadline(orders: OrdersRepository, now: dt.datetime, *, limit: int = 50,
                        scan: int = 500) -> list[DeadlineOrder]:
    """Orders still to ship that carry a shipping deadline, the nearest deadline first. The deadline
    is in the OR11 payload, not a column, so up to ``scan`` orders are read and sorted here."""
    found = []
    for o in orders.in_states([s.value for s in TO_SHIP], limit=scan):
        deadline = as_datetime((o.raw or {}).get("shipping_deadline"))
        if deadline is not None:
            found.append(DeadlineOrder(o, (deadline - now).total_seconds()))
    found.sort(key=lambda item: item.seconds_left or 0.0)
    return found[:limit]
