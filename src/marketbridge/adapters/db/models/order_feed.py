"""Tables of the order feed (issue 20; migrations ``0012_order_feed``, ``0013_order_feed_fully_refunded``).

* ``order_feed_mirror``: the last version of each marketplace order the feed read, one row per
  ``(connection, order_id)``. Not ``marketplace_orders``: that name is the orders flow's own record
  (our state machine, the raw payload with the customer). The mirror holds **no personal data**:
  lines, refunds, cancelations and tracking are JSON with money as decimal strings
  (``marketbridge.domain.order_feed``), scalar amounts are ``NUMERIC``. ``updated_at`` is Mirakl's
  ``last_updated_date``; ``changed_at`` is our clock when the row last changed (what
  ``changed_since`` reads).
* ``order_feed_events``: the transactional outbox of changes, written in the same transaction as
  the mirror rows they come from; ``dispatched_at`` is set once published on the bus.
* ``order_feed_state``: one row per connection: the cursor (the newest ``last_updated_date`` read
  completely), the reader lease and the last read's figures.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, Numeric, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base, utcnow

MONEY = Numeric(12, 2, asdecimal=True)


class MirroredOrder(Base):
    __tablename__ = "order_feed_mirror"
    __table_args__ = (
        Index("ix_order_feed_mirror_state", "connection", "state"),
        Index("ix_order_feed_mirror_changed_at", "connection", "changed_at"),
    )

    connection: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column()
    acceptance_deadline: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    shipping_deadline: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    customer_debited_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    can_cancel: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    has_incident: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    shipping_total: Mapped[Decimal] = mapped_column(MONEY)
    total_price: Mapped[Decimal] = mapped_column(MONEY)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tracking: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the marketplace's ``fully_refunded`` flag (migration ``0013_order_feed_fully_refunded``)
    fully_refunded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FeedEventRow(Base):
    __tablename__ = "order_feed_events"
    __table_args__ = (
        Index("ix_order_feed_events_pending", "connection", "dispatched_at", "id"),
        Index("ix_order_feed_events_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class FeedStateRow(Base):
    __tablename__ = "order_feed_state"

    connection: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_read_started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_read_finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_read_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_read_orders: Mapped[int] = mapped_column(Integer, default=0)
    last_read_pages: Mapped[int] = mapped_column(Integer, default=0)
    last_read_events: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_read_due: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
