"""Tables of the orders flow.

``marketplace_orders`` is our durable record of each marketplace order, unique per
``(connection, order_id)``, written before anything acts on it (the raw OR11 payload included).
``order_lines`` hold the per-line facts and decisions; ``order_transitions`` the timestamped
history of the state machine in ``marketbridge.domain.orders``.

Personal data: the customer's name and shipping address live in ``customer_name`` /
``shipping_address`` and inside ``raw``; the purge blanks all three after the retention period
and stamps ``personal_data_purged_at``.

Money is ``Decimal`` in ``NUMERIC`` columns (migration ``0011_money_decimal``; these were floats
before): see ``marketbridge.domain.money`` for why and for the wire forms.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketbridge.adapters.db.base import Base, utcnow

MONEY = Numeric(12, 2, asdecimal=True)
"""Amounts in the order's currency, to the penny (as ``refunds_out`` / ``marketplace_refunds``)."""
UNIT_PRICE = Numeric(14, 4, asdecimal=True)
"""A line's unit price: Mirakl's ``price_unit``, or ``price / quantity`` when absent, which needs
more than two places (``10.00 / 3``); four, as Adobe Commerce's own price columns."""


class MarketplaceOrder(Base):
    __tablename__ = "marketplace_orders"
    __table_args__ = (
        UniqueConstraint("connection", "order_id", name="uq_marketplace_orders_connection_order_id"),
        Index("ix_marketplace_orders_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(64))
    commercial_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(32), default="received")
    state_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    marketplace_state: Mapped[str] = mapped_column(String(32))
    marketplace_updated_at: Mapped[dt.datetime] = mapped_column()
    marketplace_created_at: Mapped[dt.datetime] = mapped_column()
    customer_debited_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    acceptance_deadline: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    shipping_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    total_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    customer_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    personal_data_purged_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    magento_entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    magento_increment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    magento_totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_attempt: Mapped[int] = mapped_column(Integer, default=0)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # ``state`` doubles as the optimistic version: an UPDATE carries ``WHERE state = <as read>``, so
    # a poll and a decision that both move the same order cannot overwrite each other's transition
    # (the loser gets StaleDataError, re-reads and re-decides).
    __mapper_args__ = {"version_id_col": state, "version_id_generator": False}

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.position")
    transitions: Mapped[list[OrderTransition]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderTransition.id")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_pk", "order_line_id", name="uq_order_lines_order_pk_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("marketplace_orders.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    offer_sku: Mapped[str] = mapped_column(String(128))
    magento_sku: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    sku_match: Mapped[str | None] = mapped_column(String(16), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE, default=Decimal(0))  # may be price / quantity
    price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    shipping_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    marketplace_state: Mapped[str] = mapped_column(String(32))
    accepted: Mapped[bool | None] = mapped_column(nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)

    order: Mapped[MarketplaceOrder] = relationship(back_populates="lines")


class OrderTransition(Base):
    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("marketplace_orders.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_state: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="system")
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    order: Mapped[MarketplaceOrder] = relationship(back_populates="transitions")
