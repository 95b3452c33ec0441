"""The catalogue flow's storage port (implemented in :mod:`marketbridge.adapters.db.catalogue`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from marketbridge.ports.shared import IssueLog, SkuLinks, StockRecords

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import (
        AttributeMappingRow,
        CatalogueImport,
        CategoryMappingRow,
        Listing,
        PublishOverride,
    )


class CatalogueRepository(Protocol):
    """What the catalogue flow reads and writes in one unit of work: its listings
    (``catalogue_listings``), the imports it sent (``catalogue_imports``), the editable attribute
    and category mappings and publish rules, its discovery cursors, and through the other ports the
    issue records and activity log it writes, the SKU links it reads and the stock flow's rules and
    hints. Records handed out are changed in place; the unit of work keeps the changes."""

    @property
    def issues(self) -> IssueLog: ...

    @property
    def skus(self) -> SkuLinks: ...

    @property
    def stock(self) -> StockRecords: ...

    # ------------------------------------------------------------------ listings
    def listing(self, magento_sku: str) -> Listing | None: ...

    def add_listing(self, magento_sku: str, *, status: str) -> Listing:
        """A new listing (offer SKU = the SKU, no stage, problems or payload yet), kept by the unit
        of work."""
        ...

    def listing_statuses(self) -> dict[str, str]:
        """Magento SKU -> listing status, for every listing."""
        ...

    def listings_at_stage(self, stage: str, *, status: str | None = None) -> Sequence[Listing]:
        """Listings at this stage (and in this status, when given), by Magento SKU."""
        ...

    def listings(self, *, skus: Sequence[str] | None, status: str | None, limit: int) -> Sequence[Listing]:
        """By Magento SKU: these SKUs' (``None``: any), in this status (``None``: any)."""
        ...

    def search_listings(self, *, status: str | None, q: str | None, limit: int) -> Sequence[Listing]:
        """Most recently updated first; ``q`` matches part of the Adobe Commerce SKU or the offer SKU
        (literally: ``%`` and ``_`` are not wildcards)."""
        ...

    def listing_counts(self) -> dict[str, int]:
        """Listings per status (only the statuses present)."""
        ...

    # ------------------------------------------------------------------ imports
    def submitted_imports(self, purpose: str) -> Sequence[CatalogueImport]:
        """Imports of this purpose still ``submitted`` (in flight), oldest first."""
        ...

    def catalogue_import(self, row_id: int) -> CatalogueImport | None: ...

    def last_submitted_at(self, api: str) -> datetime | None:
        """When the last import of this API was submitted (None: never)."""
        ...

    def add_import(self, api: str, import_id: str, skus: list[str], *, purpose: str) -> None: ...

    def import_counts_since(self, since: datetime) -> list[tuple[str, str, int]]:
        """``(api, status, count)`` of the imports submitted since then."""
        ...

    # ------------------------------------------------------------------ mappings and publish rules
    def attribute_mapping_rows(self) -> Sequence[AttributeMappingRow]:
        """Every edited attribute mapping (the defaults are the domain's)."""
        ...

    def attribute_mapping(self, attribute: str) -> AttributeMappingRow | None: ...

    def add_attribute_mapping(self, attribute: str, *, source: str, value_map: dict[str, Any],
                              updated_by: str) -> AttributeMappingRow: ...

    def remove_attribute_mapping(self, attribute: str) -> bool:
        """Delete the edited mapping of this attribute; False when there is none."""
        ...

    def category_mappings(self) -> dict[str, str]:
        """Magento category -> marketplace category."""
        ...

    def category_mapping(self, magento_category: str) -> CategoryMappingRow | None: ...

    def add_category_mapping(self, magento_category: str, *, marketplace_category: str,
                             updated_by: str) -> CategoryMappingRow: ...

    def remove_category_mapping(self, magento_category: str) -> bool:
        """Delete the mapping of this category; False when there is none."""
        ...

    def override_actions(self) -> dict[str, str]:
        """Magento SKU -> the action of its publish rule."""
        ...

    def publish_overrides(self) -> Sequence[PublishOverride]:
        """Every publish rule, by Magento SKU."""
        ...

    def publish_override(self, magento_sku: str) -> PublishOverride | None: ...

    def add_publish_override(self, magento_sku: str, *, action: str, note: str, created_by: str) -> None: ...

    def remove_publish_override(self, magento_sku: str) -> bool:
        """Delete the publish rule of this SKU; False when there is none."""
        ...

    # ------------------------------------------------------------------ cursors
    def cursor(self, name: str) -> str | None:
        """Where a scan of the flow stopped last (a stream cursor); None before its first run."""
        ...

    def move_cursor(self, name: str, value: str) -> None:
        """Set the cursor (created if missing)."""
        ...

    def add_cursor(self, name: str, value: str) -> None:
        """Store a new cursor (an existing one is a constraint error when the unit of work ends)."""
        ...

    def flush(self) -> None:
        """Write the pending changes now, so a constraint error surfaces in the command that caused
        it rather than when the unit of work ends."""
        ...


class CatalogueStore(Protocol):
    """The catalogue flow's storage: each :meth:`unit_of_work` is one transaction, committed when
    the block ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[CatalogueRepository]: ...
