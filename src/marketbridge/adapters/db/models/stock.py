"""Tables of the stock and price flow.

The path of one change, table by table::

    webhook_events   raw Adobe Commerce webhook, stored before anything acts on it
    stock_hints      "this SKU may have changed" (webhook, poll, resync): re-read Magento for it
    sku_states       what we know per SKU: product facts, Magento qty/price, target, published, result
    sync_outbox      pending value per (kind, SKU), newest wins; plus the value in flight in a batch
    sync_batches     one Mirakl import (STO01 / OF01 / PRI01): SKUs, import id, status, result
    sync_lanes       one row per import API: the batch in flight and when the last one was sent
    stock_rules      channel rules (stock: buffer, allocation, max, zero-below; price: markup...)
    sku_push_log     history: every value a completed import carried, with its notice and completion times

Values in the outbox are strings (a quantity ``"12"`` or a price ``"19.99"``) so one table serves
both kinds without float rounding.

Prices in ``sku_states`` are strings too, on purpose: canonical decimal strings, never a float's
repr. ``price`` / ``special_price`` as read from Adobe Commerce (up to four places, trailing zeros
dropped: ``"19.99"``, ``"20"``; ``services.stock.reading._money``), ``magento_price`` /
``target_price`` / ``published_price`` as the stock rules computed them (``target_price`` and the
outbox value to the penny: ``"19.90"``, ``domain.stock.format_price``). Code that computes with
them reads them as ``Decimal`` at the boundary (``domain.sku_stock._decimal``); see
``marketbridge.domain.money``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base, utcnow


class WebhookEvent(Base):
    """One accepted (signature-checked) webhook delivery, stored raw before it is dispatched.

    Personal data: an order event's body carries names, addresses and phones. After
    ``webhook_body_retention_hours`` the purge (services/personal_data.py) replaces ``body`` by its
    minimised form (event name, ids, SKUs, quantities: what the handlers read) and stamps
    ``body_minimised_at``; the row, its ``dedup_key`` and ``received_at`` stay for de-duplication.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_dedup", "dedup_key", "received_at"),
                      Index("ix_webhook_events_minimise", "body_minimised_at", "received_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    event_name: Mapped[str] = mapped_column(String(255), index=True)
    dedup_key: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    handled_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    body_minimised_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class StockHint(Base):
    """A SKU to re-read from Adobe Commerce. ``first_noticed_at`` starts the latency clock."""

    __tablename__ = "stock_hints"

    sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    stock: Mapped[bool] = mapped_column(Boolean, default=True)
    price: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[bool] = mapped_column(Boolean, default=False)  # re-read the product itself
    exact: Mapped[bool] = mapped_column(Boolean, default=False)  # reservations may exist: per-SKU read
    force: Mapped[bool] = mapped_column(Boolean, default=False)  # push even if unchanged (full resync)
    first_noticed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    touched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(64), default="")
    # A fresh random value per notice: a refresh deletes the hint only if the token is still the
    # one it read, so a notice that landed during the read survives (compare-and-delete).
    token: Mapped[str] = mapped_column(String(32), default="", server_default="")


class SkuState(Base):
    """Everything we know about one SKU, for the push and for ``marketbridge stock show``."""

    __tablename__ = "sku_states"

    sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    # product facts, as last read from Adobe Commerce
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    type_id: Mapped[str] = mapped_column(String(32), default="simple")
    manage_stock: Mapped[bool] = mapped_column(Boolean, default=True)
    min_qty: Mapped[float] = mapped_column(Float, default=0.0)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    category_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    special_price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    special_from: Mapped[str | None] = mapped_column(String(32), nullable=True)
    special_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    facts_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # start of the read of the product facts
    # Start of the newest read whose facts this row holds: an older read never writes over it.
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    source_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reservations_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    # stock
    magento_qty: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_qty: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stock_rule: Mapped[str] = mapped_column(String(255), default="")
    published_qty: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stock_import_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stock_result: Mapped[str] = mapped_column(String(16), default="")  # ok | error | pending
    stock_message: Mapped[str] = mapped_column(Text, default="")
    stock_pushed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    stock_completed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    stock_latency_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # price
    magento_price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    price_rule: Mapped[str] = mapped_column(String(255), default="")
    published_price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    price_import_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    price_result: Mapped[str] = mapped_column(String(16), default="")
    price_message: Mapped[str] = mapped_column(Text, default="")
    price_pushed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    price_completed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    price_latency_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    noticed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncOutbox(Base):
    """The durable outbox: one row per (kind, SKU).

    ``pending_*`` is the newest value not yet sent (overwritten by every change: newest wins);
    ``inflight_*`` is the value carried by batch ``inflight_batch_id``. A change that arrives
    while a value is in flight goes to ``pending_*`` and leaves with the next window.
    """

    __tablename__ = "sync_outbox"
    __table_args__ = (Index("ix_sync_outbox_inflight", "inflight_batch_id"),)

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    sku: Mapped[str] = mapped_column(String(128), primary_key=True)
    pending_value: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pending_noticed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    pending_first_noticed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    inflight_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    inflight_value: Mapped[str | None] = mapped_column(String(32), nullable=True)
    inflight_first_noticed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    inflight_read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SyncBatch(Base):
    """One import sent to the marketplace (or about to be)."""

    __tablename__ = "sync_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api: Mapped[str] = mapped_column(String(8), index=True)
    kinds: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="claimed")  # claimed|sent|complete|failed
    workflow_id: Mapped[str] = mapped_column(String(128), default="")
    import_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sku_count: Mapped[int] = mapped_column(Integer, default=0)
    ok_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    import_status: Mapped[str] = mapped_column(String(32), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SyncLane(Base):
    """One Mirakl import API: at most one batch in flight, at most one upload per interval."""

    __tablename__ = "sync_lanes"

    api: Mapped[str] = mapped_column(String(8), primary_key=True)
    active_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class StockRule(Base):
    """A channel rule; see :mod:`marketbridge.domain.stock` for the fields and precedence."""

    __tablename__ = "stock_rules"
    __table_args__ = (UniqueConstraint("kind", "scope", "scope_key", name="uq_stock_rules_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    scope: Mapped[str] = mapped_column(String(16))
    scope_key: Mapped[str] = mapped_column(String(255), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SkuPushLog(Base):
    """One value carried by one completed import: the per-SKU history (console, latency figures).

    ``first_noticed_at`` is the oldest change the value covers; ``read_at`` is when Adobe Commerce
    was read for it, so the value includes every change made before ``read_at``.
    """

    __tablename__ = "sku_push_log"
    __table_args__ = (Index("ix_sku_push_log_sku", "sku", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    sku: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    first_noticed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
