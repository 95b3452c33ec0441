"""Reading listings (their status, stage and problems).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from marketbridge.adapters.db.models.catalogue import (
    Listing,
)
from marketbridge.runtime import Runtime
from marketbridge.services.catalogue.results import ListingView


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
