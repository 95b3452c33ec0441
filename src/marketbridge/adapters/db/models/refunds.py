"""Tables of the refunds flow.

``refunds_out``: one row per Adobe Commerce credit memo we have seen (unique memo id), written
before anything acts on it. It holds the computed OR28 lines and the state of their delivery::

    new -> planned -> sending -> sent -> refunded
      \\-> ignored (not a marketplace order, or a mirror of a marketplace refund)
      \\-> held    (a problem for finance; nothing sent)

``sending`` is written *before* the OR28 call with the attempt time, so a crash or an ambiguous
answer (time-out, 5xx) leaves a trace: the next attempt re-reads the marketplace order and
adopts a refund that matches instead of sending again.

``marketplace_refunds``: every refund we know on a marketplace order line (unique refund id),
whether we sent it (``origin='creditmemo'``, with the memo id) or it started on the marketplace
(``origin='marketplace'``). Its ``state`` follows Mirakl's ``refund_state`` to REFUNDED.

``refund_reasons``: the RE01 list cached (Mirakl allows RE01 once a day).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base, utcnow


class RefundOut(Base):
    __tablename__ = "refunds_out"
    __table_args__ = (
        UniqueConstraint("creditmemo_id"),
        Index("ix_refunds_out_status", "status"),
        Index("ix_refunds_out_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creditmemo_id: Mapped[int] = mapped_column(Integer)
    creditmemo_increment_id: Mapped[str] = mapped_column(String(64), default="")
    magento_order_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    order_id: Mapped[str] = mapped_column(String(64), default="")  # marketplace order id ('' until known)
    status: Mapped[str] = mapped_column(String(16), default="new")
    source: Mapped[str] = mapped_column(String(16), default="poll")  # webhook | poll | manual
    currency: Mapped[str] = mapped_column(String(3), default="")
    tax_mode: Mapped[str] = mapped_column(String(16), default="")  # the order's; OR28 amounts are in it
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))  # what we refund on the marketplace
    memo_total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))  # the memo's grand total
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)  # domain PlannedLine.as_json()
    refund_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    problem: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    workflow_round: Mapped[int] = mapped_column(Integer, default=0)  # bumped to restart a stalled memo
    in_flight: Mapped[bool] = mapped_column(default=False)  # an OR28 call is out and has not answered
    send_started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    memo_created_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MarketplaceRefund(Base):
    __tablename__ = "marketplace_refunds"
    __table_args__ = (
        UniqueConstraint("refund_id"),
        Index("ix_marketplace_refunds_order_id", "order_id"),
        Index("ix_marketplace_refunds_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(64))
    order_line_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(128), default="")
    origin: Mapped[str] = mapped_column(String(16))  # creditmemo | marketplace
    creditmemo_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # ours, or the mirror we created
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    shipping_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    reason_code: Mapped[str] = mapped_column(String(32), default="")
    currency: Mapped[str] = mapped_column(String(3), default="")
    state: Mapped[str] = mapped_column(String(40), default="WAITING_REFUND")
    marketplace_created_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RefundReason(Base):
    __tablename__ = "refund_reasons"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(255), default="")
    type: Mapped[str] = mapped_column(String(32))
    is_shop_right: Mapped[bool] = mapped_column(default=False)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
