"""Reading listings (their status, stage and problems), and the console's views of the flow:
listings by status, searched, and the imports sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import CatalogueImport, Listing
from marketbridge.domain.catalogue import ListingStatus
from marketbridge.runtime import Runtime
from marketbridge.services.catalogue.results import ListingView

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
    with runtime.db.session() as session:
        query = select(Listing).order_by(Listing.magento_sku)
        if skus is not None:
            query = query.where(Listing.magento_sku.in_(list(skus)))
        if status is not None:
            query = query.where(Listing.status == status)
        return {row.magento_sku: listing_view(row) for row in session.scalars(query.limit(limit))}


def listing_counts(session: Session) -> list[tuple[str, int]]:
    """Listings per status: every console status (zero when none), then any other status present."""
    counts = {str(s): int(n) for s, n in session.execute(select(Listing.status, func.count()).group_by(Listing.status))}
    known = [s.value for s in CONSOLE_STATUSES]
    return [(s, counts.get(s, 0)) for s in known] + [(s, n) for s, n in counts.items() if s not in known]


def search_listings(session: Session, *, status: str | None = None, q: str | None = None,
                    limit: int = 200) -> list[ListingView]:
    """Most recently updated first; ``q`` matches part of the Adobe Commerce SKU or the offer SKU
    (literally: ``%`` and ``_`` are not wildcards)."""
    query = select(Listing).order_by(Listing.updated_at.desc())
    if status:
        query = query.where(Listing.status == status)
    if q:
        query = query.where(Listing.magento_sku.contains(q.strip(), autoescape=True)
                            | Listing.offer_sku.contains(q.strip(), autoescape=True))
    return [listing_view(r) for r in session.scalars(query.limit(limit))]


def import_counts_since(session: Session, since: dt.datetime) -> list[tuple[str, str, int]]:
    """``(api, status, count)`` of the catalogue imports submitted since then."""
    rows = session.execute(select(CatalogueImport.api, CatalogueImport.status, func.count())
                           .where(CatalogueImport.submitted_at >= since)
                           .group_by(CatalogueImport.api, CatalogueImport.status))
    return [(str(api), str(status), int(n)) for api, status, n in rows]
