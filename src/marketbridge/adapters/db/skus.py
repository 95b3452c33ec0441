"""The person-confirmed SKU links over SQLAlchemy: :class:`SqlSkuLinks` implements
:class:`marketbridge.ports.SkuLinks` (what the flows read in their units of work) and
:class:`marketbridge.ports.SkuLinksRepository` (what ``services.skus`` reads and edits), so the
queries on ``sku_links`` are written here. They are the statements the services ran before: a
look-up is one ``SELECT magento_sku``/``offer_sku`` (``LIMIT 1`` by Magento SKU), the whole table is
one ``SELECT offer_sku, magento_sku``, a link is found by its primary key, added to or deleted from
the session (written with the transaction).

The issue log and the stock flow's hints a link edit needs (``issues``, ``stock``) come from the
composition root (:class:`SqlSkuLinksStore`); a flow that only reads the links builds
``SqlSkuLinks(session)`` without them, and asking for them then is a wiring error, reported as such.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import SkuLink
from marketbridge.adapters.db.session import Database
from marketbridge.adapters.db.store import SqlStore
from marketbridge.ports.shared import IssueLog, StockRecords


class SqlSkuLinks:
    """:class:`marketbridge.ports.SkuLinksRepository` on one session."""

    def __init__(self, session: Session, issues: IssueLog | None = None, stock: StockRecords | None = None) -> None:
        self.session = session
        self._issues = issues
        self._stock = stock

    @property
    def issues(self) -> IssueLog:
        if self._issues is None:
            raise RuntimeError("these SKU links were built for reads only (no issue log)")
        return self._issues

    @property
    def stock(self) -> StockRecords:
        if self._stock is None:
            raise RuntimeError("these SKU links were built for reads only (no stock records)")
        return self._stock

    # ------------------------------------------------------------------ SkuLinks (the flows' reads)
    def linked(self, offer_sku: str) -> str | None:
        return self.session.scalar(select(SkuLink.magento_sku).where(SkuLink.offer_sku == offer_sku))

    def magento_sku_for(self, offer_sku: str) -> str:
        return self.linked(offer_sku) or offer_sku

    def offer_sku_for(self, magento_sku: str) -> str:
        linked = self.session.scalar(select(SkuLink.offer_sku).where(SkuLink.magento_sku == magento_sku).limit(1))
        return linked or magento_sku

    def all_links(self) -> dict[str, str]:
        return dict(self.session.execute(select(SkuLink.offer_sku, SkuLink.magento_sku)).tuples().all())

    # ------------------------------------------------------------------ a person's edits
    def link_row(self, offer_sku: str) -> SkuLink | None:
        return self.session.get(SkuLink, offer_sku)

    def link_rows(self) -> Sequence[SkuLink]:
        return list(self.session.scalars(select(SkuLink).order_by(SkuLink.offer_sku)))

    def add_link(self, row: SkuLink) -> None:
        self.session.add(row)

    def remove_link(self, row: SkuLink) -> None:
        self.session.delete(row)

    def flush(self) -> None:
        self.session.flush()


class SqlSkuLinksStore(SqlStore[SqlSkuLinks]):
    """:class:`marketbridge.ports.SkuLinksStore` on a :class:`Database`, with the issue log and the
    stock records of each session (from the composition root)."""

    def __init__(self, db: Database, *, issues: Callable[[Session], IssueLog],
                 stock: Callable[[Session], StockRecords]) -> None:
        super().__init__(db)
        self._issues = issues
        self._stock = stock

    def repository(self, session: Session) -> SqlSkuLinks:
        return SqlSkuLinks(session, self._issues(session), self._stock(session))
