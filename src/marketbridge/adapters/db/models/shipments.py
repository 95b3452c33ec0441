"""Tables of the shipments flow.

* ``shipments_out``: one row per Magento shipment of a marketplace order, written when the
  shipment is first seen and before anything is sent, so each shipment is sent once and its state
  is visible to the console.
* ``carrier_mappings``: people's decisions (Magento carrier code and/or track title → marketplace
  carrier code). A row with an empty ``magento_carrier_code`` is an alias on the title.
* ``marketplace_carriers``: the cached SH21 list (refreshed daily).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base, utcnow


class ShipmentOut(Base):
    __tablename__ = "shipments_out"
    __table_args__ = (
        Index("ix_shipments_out_state", "state"),
        Index("ix_shipments_out_marketplace_order_id", "marketplace_order_id"),
    )

    magento_shipment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    magento_increment_id: Mapped[str] = mapped_column(String(64), default="")
    magento_order_id: Mapped[int] = mapped_column(Integer)
    marketplace_order_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24), default="new")
    #: [{"track_number", "title", "carrier_code", "created_at"}] as last read from Magento
    tracks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: [{"order_item_id", "sku", "qty", "ext_order_item_id"}]
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: {order_line_id: quantity} this shipment covers on the marketplace order
    lines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tracking_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    carrier_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    carrier_match: Mapped[str | None] = mapped_column(String(128), nullable=True)
    carrier_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    marketplace_shipment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: API code -> {"at", "status", "detail"}: what each marketplace call answered
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str] = mapped_column(Text, default="")
    generation: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    magento_created_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    detected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CarrierMapping(Base):
    __tablename__ = "carrier_mappings"
    __table_args__ = (UniqueConstraint("magento_carrier_code", "title_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    magento_carrier_code: Mapped[str] = mapped_column(String(64), default="")
    title_key: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(255), default="")
    marketplace_code: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MarketplaceCarrier(Base):
    __tablename__ = "marketplace_carriers"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(255))
    standard_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracking_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    refreshed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
