"""Read views of the catalogue flow for the console: listings by status, searched, and imports sent.

A module of its own (not in ``services/catalogue.py``) while that module is being split into a
package; it moves in as the package's ``views`` then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import CatalogueImport, Listing
from marketbridge.domain.catalogue import ListingStatus
from marketbridge.services import catalogue as catalogue_service

#: The order in which the console lists the statuses (any other status found follows).
CONSOLE_STATUSES: tuple[ListingStatus, ...] = (
    ListingStatus.LIVE, ListingStatus.PENDING, ListingStatus.NEW, ListingStatus.INACTIVE, ListingStatus.REJECTED,
    ListingStatus.INVALID, ListingStatus.EXCLUDED,
)


def listing_counts(session: Session) -> list[tuple[str, int]]:
    """Listings per status: every console status (zero when none), then any other status present."""
    counts = {str(s): int(n) for s, n in session.execute(select(Listing.status, func.count()).group_by(Listing.status))}
    known = [s.value for s in CONSOLE_STATUSES]
    return [(s, counts.get(s, 0)) for s in known] + [(s, n) for s, n in counts.items() if s not in known]


def search_listings(session: Session, *, status: str | None = None, q: str | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Most recently updated first; ``q`` matches part of the Adobe Commerce SKU or the offer SKU
    (literally: ``%`` and ``_`` are not wildcards)."""
    query = select(Listing).order_by(Listing.updated_at.desc())
    if status:
        query = query.where(Listing.status == status)
    if q:
        query = query.where(Listing.magento_sku.contains(q.strip(), autoescape=True)
                            | Listing.offer_sku.contains(q.strip(), autoescape=True))
    return [catalogue_service.listing_dict(r) for r in session.scalars(query.limit(limit))]


def import_counts_since(session: Session, since: dt.datetime) -> list[tuple[str, str, int]]:
    """``(api, status, count)`` of the catalogue imports submitted since then."""
    rows = session.execute(select(CatalogueImport.api, CatalogueImport.status, func.count())
                           .where(CatalogueImport.submitted_at >= since)
                           .group_by(CatalogueImport.api, CatalogueImport.status))
    return [(str(api), str(status), int(n)) for api, status, n in rows]
