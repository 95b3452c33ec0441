"""Reading listings (their status, stage and problems), and the console's views of the flow:
listings by status, searched, and the imports sent. The console's views take the flow's repository
(the page opens a unit of work of ``runtime.catalogue_store``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from marketbridge.domain.catalogue import ListingStatus
from marketbridge.runtime import Runtime
from marketbridge.services.catalogue.results import ListingView

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import Listing
    from marketbridge.ports import CatalogueRepository

#: The order in which the console lists the statuses (any other status found follows).
CONSOLE_STATUSES: tuple[ListingStatus, ...] = (
    ListingStatus.LIVE, ListingStatus.PENDING, ListingStatus.NEW, ListingStatus.INACTIVE, ListingStatus.REJECTED,
    ListingStatus.INVALID, ListingStatus.EXCLUDED,
)


def listing_view(row: Listing) -> ListingView:
    return ListingView(magento_sku=row.magento_sku, offer_sku=row.offer_sku, type_id=row.type_id,
                       variant_group=row.variant_group, status=row.status, stage=row.stage,
                       problems=list(row.problems or []), product_import_id=row.product_import_id,
                       offer_import_id=row.offer_import_id,
                       updated_at=row.updated_at.isoformat() if row.updated_at else None)


def statuses(runtime: Runtime, skus: Sequence[str] | None = None, *, status: str | None = None,
             limit: int = 1000) -> dict[str, ListingView]:
    with runtime.catalogue_store.unit_of_work() as repo:
        return {row.magento_sku: listing_view(row) for row in repo.listings(skus=skus, status=status, limit=limit)}


def listing_counts(repo: CatalogueRepository) -> list[tuple[str, int]]:
    """Listings per status: every console status (zero when none), then any other status present."""
    counts = repo.listing_counts()
    known = [s.value for s in CONSOLE_STATUSES]
    return [(s, counts.get(s, 0)) for s in known] + [(s, n) for s, n in counts.items() if s not in known]


def search_listings(repo: CatalogueRepository, *, status: str | None = None, q: str | None = None,
                    limit: int = 200) -> list[ListingView]:
    """Most recently updated first; ``q`` matches part of the Adobe Commerce SKU or the offer SKU
    (literally: ``%`` and ``_`` are not wildcards)."""
    return [listing_view(r) for r in repo.search_listings(status=status, q=q, limit=limit)]


def import_counts_since(repo: CatalogueRepository, since: dt.datetime) -> list[tuple[str, str, int]]:
    """``(api, status, count)`` of the catalogue imports submitted since then."""
    return repo.import_counts_since(since)
