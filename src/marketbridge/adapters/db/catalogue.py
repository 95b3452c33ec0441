"""The catalogue flow's storage over SQLAlchemy: :class:`SqlCatalogueStore` implements
:class:`marketbridge.ports.CatalogueStore` (issue 18 item 2), so the queries on
``catalogue_listings``, ``catalogue_imports``, the attribute and category mappings, the publish
rules and the flow's discovery cursors are written here and nowhere in the flow. One unit of work
is one :meth:`Database.session` (committed at the end of the block, rolled back on an error),
exactly the transaction the flow opened itself before.

The issue records and activity log the flow writes, the SKU links it reads and the stock flow's
rules and hints go through the :class:`marketbridge.ports.IssueLog`,
:class:`marketbridge.ports.SkuLinks` and :class:`marketbridge.ports.StockRecords` the composition
root hands in (``services.issues``, ``services.skus``, ``services.stock.queries``), on the same
session: their rules live in the services, and this adapter does not import them.

:func:`published_as_simple` is what other flows may read of the catalogue's data: the stock flow
asks it which SKUs are published despite a default exclusion, instead of reading
``publish_overrides`` itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.cursors import StreamCursors
from marketbridge.adapters.db.models.catalogue import (
    AttributeMappingRow,
    CatalogueImport,
    CategoryMappingRow,
    Listing,
    PublishOverride,
)
from marketbridge.adapters.db.models.core import StreamCursor
from marketbridge.adapters.db.session import Database
from marketbridge.ports import IssueLog, SkuLinks, StockRecords

#: The value of ``domain.catalogue.OverrideAction.PUBLISH_AS_SIMPLE`` (adapters import no domain
#: rules; tests/unit/test_catalogue_flow.py checks the two agree).
PUBLISH_AS_SIMPLE = "publish_as_simple"


def published_as_simple(session: Session) -> frozenset[str]:
    """SKUs the catalogue publishes despite a default exclusion (its ``publish_as_simple`` rules)."""
    return frozenset(session.scalars(select(PublishOverride.magento_sku).where(
        PublishOverride.action == PUBLISH_AS_SIMPLE)))


class SqlCatalogueRepository(StreamCursors):
    """:class:`marketbridge.ports.CatalogueRepository` on one session."""

    def __init__(self, session: Session, issues: IssueLog, skus: SkuLinks, stock: StockRecords) -> None:
        self.session = session
        self._issues = issues
        self._skus = skus
        self._stock = stock

    @property
    def issues(self) -> IssueLog:
        return self._issues

    @property
    def skus(self) -> SkuLinks:
        return self._skus

    @property
    def stock(self) -> StockRecords:
        return self._stock

    # ------------------------------------------------------------------ listings
    def listing(self, magento_sku: str) -> Listing | None:
        return self.session.get(Listing, magento_sku)

    def add_listing(self, magento_sku: str, *, status: str) -> Listing:
        row = Listing(magento_sku=magento_sku, offer_sku=magento_sku, status=status, stage="", problems=[], payload={})
        self.session.add(row)
        return row

    def listing_statuses(self) -> dict[str, str]:
        return dict(self.session.execute(select(Listing.magento_sku, Listing.status)).tuples().all())

    def listings_at_stage(self, stage: str, *, status: str | None = None) -> Sequence[Listing]:
        conditions = [Listing.stage == stage] if status is None else [Listing.status == status, Listing.stage == stage]
        return self.session.scalars(select(Listing).where(*conditions).order_by(Listing.magento_sku)).all()

    def listings(self, *, skus: Sequence[str] | None, status: str | None, limit: int) -> Sequence[Listing]:
        query = select(Listing).order_by(Listing.magento_sku)
        if skus is not None:
            query = query.where(Listing.magento_sku.in_(list(skus)))
        if status is not None:
            query = query.where(Listing.status == status)
        return self.session.scalars(query.limit(limit)).all()

    def search_listings(self, *, status: str | None, q: str | None, limit: int) -> Sequence[Listing]:
        query = select(Listing).order_by(Listing.updated_at.desc())
        if status:
            query = query.where(Listing.status == status)
        if q:
            query = query.where(Listing.magento_sku.contains(q.strip(), autoescape=True)
                                | Listing.offer_sku.contains(q.strip(), autoescape=True))
        return self.session.scalars(query.limit(limit)).all()

    def listing_counts(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self.session.execute(
            select(Listing.status, func.count()).group_by(Listing.status))}

    # ------------------------------------------------------------------ imports
    def submitted_imports(self, purpose: str) -> Sequence[CatalogueImport]:
        return self.session.scalars(select(CatalogueImport).where(CatalogueImport.status == "submitted",
                                                                  CatalogueImport.purpose == purpose)
                                    .order_by(CatalogueImport.id)).all()

    def catalogue_import(self, row_id: int) -> CatalogueImport | None:
        return self.session.get(CatalogueImport, row_id)

    def last_submitted_at(self, api: str) -> dt.datetime | None:
        return self.session.scalar(select(CatalogueImport.submitted_at).where(CatalogueImport.api == api)
                                   .order_by(CatalogueImport.submitted_at.desc()).limit(1))

    def add_import(self, api: str, import_id: str, skus: list[str], *, purpose: str) -> None:
        self.session.add(CatalogueImport(api=api, import_id=import_id, skus=skus, purpose=purpose))

    def import_counts_since(self, since: dt.datetime) -> list[tuple[str, str, int]]:
        rows = self.session.execute(select(CatalogueImport.api, CatalogueImport.status, func.count())
                                    .where(CatalogueImport.submitted_at >= since)
                                    .group_by(CatalogueImport.api, CatalogueImport.status))
        return [(str(api), str(status), int(n)) for api, status, n in rows]

    # ------------------------------------------------------------------ mappings and publish rules
    def attribute_mapping_rows(self) -> Sequence[AttributeMappingRow]:
        return self.session.scalars(select(AttributeMappingRow)).all()

    def attribute_mapping(self, attribute: str) -> AttributeMappingRow | None:
        return self.session.get(AttributeMappingRow, attribute)

    def add_attribute_mapping(self, attribute: str, *, source: str, value_map: dict[str, Any],
                              updated_by: str) -> AttributeMappingRow:
        row = AttributeMappingRow(attribute=attribute, source=source, value_map=value_map, updated_by=updated_by)
        self.session.add(row)
        return row

    def remove_attribute_mapping(self, attribute: str) -> bool:
        return self._remove(self.session.get(AttributeMappingRow, attribute))

    def category_mappings(self) -> dict[str, str]:
        return dict(self.session.execute(
            select(CategoryMappingRow.magento_category, CategoryMappingRow.marketplace_category)).tuples().all())

    def category_mapping(self, magento_category: str) -> CategoryMappingRow | None:
        return self.session.get(CategoryMappingRow, magento_category)

    def add_category_mapping(self, magento_category: str, *, marketplace_category: str,
                             updated_by: str) -> CategoryMappingRow:
        row = CategoryMappingRow(magento_category=magento_category, marketplace_category=marketplace_category,
                                 updated_by=updated_by)
        self.session.add(row)
        return row

    def remove_category_mapping(self, magento_category: str) -> bool:
        return self._remove(self.session.get(CategoryMappingRow, magento_category))

    def override_actions(self) -> dict[str, str]:
        return dict(self.session.execute(select(PublishOverride.magento_sku, PublishOverride.action)).tuples().all())

    def publish_overrides(self) -> Sequence[PublishOverride]:
        return self.session.scalars(select(PublishOverride).order_by(PublishOverride.magento_sku)).all()

    def publish_override(self, magento_sku: str) -> PublishOverride | None:
        return self.session.get(PublishOverride, magento_sku)

    def add_publish_override(self, magento_sku: str, *, action: str, note: str, created_by: str) -> None:
        self.session.add(PublishOverride(magento_sku=magento_sku, action=action, note=note, created_by=created_by))

    def remove_publish_override(self, magento_sku: str) -> bool:
        return self._remove(self.session.get(PublishOverride, magento_sku))

    def _remove(self, row: object | None) -> bool:
        if row is None:
            return False
        self.session.delete(row)
        return True

    # ------------------------------------------------------------------ cursors
    def add_cursor(self, name: str, value: str) -> None:
        self.session.add(StreamCursor(name=name, value=value))

    def flush(self) -> None:
        self.session.flush()


class SqlCatalogueStore:
    """:class:`marketbridge.ports.CatalogueStore` on a :class:`Database`; ``issues``, ``skus`` and
    ``stock`` make the issue log, the SKU links and the stock flow's records of a session."""

    def __init__(self, db: Database, issues: Callable[[Session], IssueLog], skus: Callable[[Session], SkuLinks],
                 stock: Callable[[Session], StockRecords]) -> None:
        self.db = db
        self._issues = issues
        self._skus = skus
        self._stock = stock

    def on_session(self, session: Session) -> SqlCatalogueRepository:
        """A repository on a transaction the caller owns: nothing is committed here."""
        return SqlCatalogueRepository(session, self._issues(session), self._skus(session), self._stock(session))

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlCatalogueRepository]:
        with self.db.session() as session:
            yield self.on_session(session)
