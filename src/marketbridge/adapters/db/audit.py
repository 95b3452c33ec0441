"""The audit's storage over SQLAlchemy: :class:`SqlAuditStore` implements
:class:`marketbridge.ports.AuditStore` (issue 18 item 2), so the queries on ``audit_runs``,
``audit_drifts``, the catalogue's ``publish_overrides`` and ``catalogue_imports``, and the audit's
bulk reads and writes of ``issue_records`` are written here and nowhere in the flow. One unit of work
is one :meth:`Database.session` (committed at the end of the block, rolled back on an error),
exactly the transaction the flow opened itself before.

The audit compares the whole catalogue (100,000 SKUs), so every read here is one statement for all
rows, as before: the drift rows go in as one executemany ``INSERT``, the issue records of the
audit's types come back in one ``SELECT``.

The SKU links it joins on, the units sold that Adobe Commerce does not hold yet (orders flow) and the
stock flow's rules and hints go through the :class:`marketbridge.ports.SkuLinks`,
:class:`marketbridge.ports.OrderRecords` and :class:`marketbridge.ports.StockRecords` the
composition root hands in (``services.skus``, ``services.orders.record``, ``services.stock.queries``),
on the same session: their rules live in the services, and this adapter does not import them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun, CatalogueImport, PublishOverride
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.session import Database
from marketbridge.ports import OrderRecords, SkuLinks, StockRecords


class SqlAuditRepository:
    """:class:`marketbridge.ports.AuditRepository` on one session."""

    def __init__(self, session: Session, skus: SkuLinks, orders: OrderRecords, stock: StockRecords) -> None:
        self.session = session
        self._skus = skus
        self._orders = orders
        self._stock = stock

    @property
    def skus(self) -> SkuLinks:
        return self._skus

    @property
    def orders(self) -> OrderRecords:
        return self._orders

    @property
    def stock(self) -> StockRecords:
        return self._stock

    # ------------------------------------------------------------------ runs and drift rows
    def add_run(self, *, trigger: str, fix: bool) -> int:
        new_run = AuditRun(trigger=trigger, status="running", fix=fix, counts={}, fixed={})
        self.session.add(new_run)
        self.session.flush()
        return new_run.id

    def run(self, run_id: int) -> AuditRun | None:
        return self.session.get(AuditRun, run_id)

    def list_runs(self, limit: int) -> Sequence[AuditRun]:
        return self.session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(limit)).all()

    def drifts(self, run_id: int, *, kind: str | None = None, limit: int | None = None) -> Sequence[AuditDrift]:
        query = select(AuditDrift).where(AuditDrift.run_id == run_id).order_by(AuditDrift.id)
        if kind:
            query = query.where(AuditDrift.kind == kind)
        if limit is not None:
            query = query.limit(limit)
        return self.session.scalars(query).all()

    def add_drifts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(AuditDrift), list(rows))

    def last_run_started(self, offer_source: str) -> dt.datetime | None:
        return self.session.scalar(select(AuditRun.started_at).where(AuditRun.offer_source == offer_source)
                                   .order_by(AuditRun.started_at.desc()).limit(1))

    # ------------------------------------------------------------------ the catalogue's data
    def publish_overrides(self) -> dict[str, str]:
        return dict(self.session.execute(select(PublishOverride.magento_sku, PublishOverride.action)).tuples().all())

    def add_import(self, *, api: str, import_id: str, skus: list[str], purpose: str) -> None:
        self.session.add(CatalogueImport(api=api, import_id=import_id, skus=skus, purpose=purpose))

    def finish_import(self, api: str, import_id: str, *, status: str, remote_status: str,
                      finished_at: dt.datetime) -> None:
        record = self.session.scalar(select(CatalogueImport).where(CatalogueImport.api == api,
                                                                   CatalogueImport.import_id == import_id))
        if record is not None:
            record.status = status
            record.remote_status, record.finished_at = remote_status, finished_at

    # ------------------------------------------------------------------ issue records, in bulk
    def issue_records(self, types: Collection[str], states: Sequence[str]) -> Sequence[IssueRecord]:
        return self.session.scalars(select(IssueRecord).where(
            IssueRecord.type.in_(types), IssueRecord.state.in_(list(states)))).all()

    def add_issue_records(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.session.add_all([IssueRecord(**row) for row in rows])


class SqlAuditStore:
    """:class:`marketbridge.ports.AuditStore` on a :class:`Database`; ``skus``, ``orders`` and
    ``stock`` make the SKU links, the order records and the stock flow's records of a session."""

    def __init__(self, db: Database, skus: Callable[[Session], SkuLinks],
                 orders: Callable[[Session], OrderRecords], stock: Callable[[Session], StockRecords]) -> None:
        self.db = db
        self._skus = skus
        self._orders = orders
        self._stock = stock

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlAuditRepository]:
        with self.db.session() as session:
            yield SqlAuditRepository(session, self._skus(session), self._orders(session), self._stock(session))
