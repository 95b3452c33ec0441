"""Tables of the catalogue flow: the editable mappings, the explicit publish rules, the listing
status per product, the imports we sent, the confirmed SKU links, and the audit runs with their
drift rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base, utcnow


class AttributeMappingRow(Base):
    """Marketplace attribute (PM11 code) <- Magento source; editable by ecommerce."""

    __tablename__ = "catalogue_attribute_mappings"

    attribute: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    value_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CategoryMappingRow(Base):
    """Magento category (code or id) -> marketplace H11 category code."""

    __tablename__ = "catalogue_category_mappings"

    magento_category: Mapped[str] = mapped_column(String(255), primary_key=True)
    marketplace_category: Mapped[str] = mapped_column(String(255))
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PublishOverride(Base):
    """An explicit rule for a product excluded by default (bundle, required custom options)."""

    __tablename__ = "catalogue_overrides"

    magento_sku: Mapped[str] = mapped_column(String(255), primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Listing(Base):
    """Where one Magento product stands on the marketplace (new, pending, rejected, live...)."""

    __tablename__ = "catalogue_listings"
    __table_args__ = (Index("ix_catalogue_listings_status", "status"),)

    magento_sku: Mapped[str] = mapped_column(String(255), primary_key=True)
    offer_sku: Mapped[str] = mapped_column(String(255), default="")
    type_id: Mapped[str] = mapped_column(String(32), default="simple")
    variant_group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="new")
    # where a sent product is in the pipeline: "" | product_sent | product_ok | offer_sent
    stage: Mapped[str] = mapped_column(String(16), default="")
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"product": P41 row, "offer": OF01 row}
    product_import_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    offer_import_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requested_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CatalogueImport(Base):
    """A P41 product import or OF01 offer import we sent, followed to its reports."""

    __tablename__ = "catalogue_imports"
    __table_args__ = (UniqueConstraint("api", "import_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api: Mapped[str] = mapped_column(String(8))
    import_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16), default="publish")  # publish | audit_fix
    skus: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # submitted | done | failed
    remote_status: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SkuLink(Base):
    """A person confirmed that a marketplace offer SKU is this Magento SKU. Every flow uses it."""

    __tablename__ = "sku_links"

    offer_sku: Mapped[str] = mapped_column(String(255), primary_key=True)
    magento_sku: Mapped[str] = mapped_column(String(255), index=True)
    confirmed_by: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class AuditRun(Base):
    """One full audit, kept with its counts per drift kind."""

    __tablename__ = "audit_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual | schedule | api
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | complete | failed
    offer_source: Mapped[str] = mapped_column(String(8), default="")  # OF52 | OF21
    fix: Mapped[bool] = mapped_column(default=False)
    magento_count: Mapped[int] = mapped_column(Integer, default=0)
    offer_count: Mapped[int] = mapped_column(Integer, default=0)
    drift_count: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fixed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    elapsed_seconds: Mapped[float] = mapped_column(default=0.0)


class AuditDrift(Base):
    """One difference found by an audit run."""

    __tablename__ = "audit_drifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    magento_sku: Mapped[str | None] = mapped_column(String(255), nullable=True)
    offer_sku: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expected: Mapped[str] = mapped_column(String(255), default="")
    actual: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    fix_action: Mapped[str] = mapped_column(String(32), default="")
    fix_result: Mapped[str] = mapped_column(Text, default="")
