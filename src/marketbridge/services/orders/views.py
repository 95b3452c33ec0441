"""Reading: order records as our JSON API and CLI show them.

:class:`OrderSummary` (``GET /api/orders``, ``marketbridge orders list --json``) and
:class:`OrderDetail` (``GET /api/orders/{order_id}``, ``orders show --json``): the response models
of the JSON routes, so /openapi.json describes them. Amounts are JSON numbers (``19.99``), as they
have always been, converted from the stored ``Decimal`` at this last step by ``wire_number``;
timestamps are ISO 8601 strings as ``datetime.isoformat`` writes them (``+00:00``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.domain.money import wire_number
from marketbridge.settings import Settings


def list_orders(session: Session, settings: Settings, *, state: str | None = None, limit: int = 100,
                offset: int = 0) -> list[MarketplaceOrder]:
    query = select(MarketplaceOrder).where(MarketplaceOrder.connection == settings.order_connection)
    if state:
        query = query.where(MarketplaceOrder.state == state)
    query = query.order_by(MarketplaceOrder.marketplace_created_at.desc(), MarketplaceOrder.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset).options(selectinload(MarketplaceOrder.lines))).all())


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


def to_dict(order: MarketplaceOrder, *, detail: bool = False) -> dict[str, Any]:
    """An order as our JSON API and CLI show it (:class:`OrderSummary`, or :class:`OrderDetail`
    with ``detail``), as a JSON object."""
    view: OrderSummary = order_detail(order) if detail else order_summary(order)
    return view.model_dump(by_alias=True)
