"""Reading: order records as our JSON API and CLI show them.

Amounts are JSON numbers (``19.99``), as they have always been, converted from the stored
``Decimal`` at this last step by ``wire_number``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

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


def to_dict(order: MarketplaceOrder, *, detail: bool = False) -> dict[str, Any]:
    """An order as our JSON API and CLI show it. Amounts are JSON numbers (``19.99``), as they have
    always been, converted from the stored ``Decimal`` at this last step by ``wire_number``."""
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    data: dict[str, Any] = {
        "order_id": order.order_id,
        "connection": order.connection,
        "commercial_id": order.commercial_id,
        "state": order.state,
        "state_changed_at": iso(order.state_changed_at),
        "marketplace_state": order.marketplace_state,
        "currency": order.currency,
        "marketplace_totals": {"subtotal": wire_number(order.subtotal), "shipping": wire_number(order.shipping_price),
                               "grand_total": wire_number(order.total_price)},
        "magento_entity_id": order.magento_entity_id,
        "magento_increment_id": order.magento_increment_id,
        "acceptance_deadline": iso(order.acceptance_deadline),
        "reason": order.reason,
        "received_at": iso(order.received_at),
        "marketplace_updated_at": iso(order.marketplace_updated_at),
    }
    if detail:
        data["magento_totals"] = order.magento_totals or {}
        data["decision"] = order.decision or {}
        data["customer_debited_at"] = iso(order.customer_debited_at)
        data["personal_data_purged_at"] = iso(order.personal_data_purged_at)
        data["lines"] = [{
            "order_line_id": line.order_line_id, "offer_sku": line.offer_sku, "magento_sku": line.magento_sku,
            "sku_match": line.sku_match, "quantity": line.quantity, "unit_price": wire_number(line.unit_price),
            "price": wire_number(line.price), "shipping_price": wire_number(line.shipping_price),
            "marketplace_state": line.marketplace_state,
            "accepted": line.accepted, "reasons": line.reasons,
        } for line in order.lines]
        data["transitions"] = [{"from": t.from_state, "to": t.to_state, "at": iso(t.at), "actor": t.actor,
                                "facts": t.facts} for t in order.transitions]
    return data
