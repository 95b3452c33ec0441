"""In-memory fakes of :class:`marketbridge.ports.IssuesRepository` and
:class:`marketbridge.ports.SkuLinksRepository` for unit tests of ``services.issues`` and
``services.skus``: issue records by id, the activity log and the SKU links in lists and dicts, no
database. The repositories hand out the stored objects themselves (the services change them in
place, as the unit of work keeps them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.models.catalogue import SkuLink
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.services import issues as issue_service

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass
class FakeIssuesRepository:
    records: dict[int, IssueRecord] = field(default_factory=dict)
    log: list[tuple[str, str, str, str, dict[str, Any]]] = field(default_factory=list)

    def newest_in_states(self, code: str, object_type: str, object_id: str,
                         states: Collection[str]) -> IssueRecord | None:
        rows = [r for r in self.records.values() if (r.type, r.object_type, r.object_id) == (code, object_type, object_id)
                and r.state in states]
        return max(rows, key=lambda r: r.id, default=None)

    def any_in_state(self, code: str, object_type: str, object_id: str, state: str) -> IssueRecord | None:
        return next((r for r in self.records.values()
                     if (r.type, r.object_type, r.object_id, r.state) == (code, object_type, object_id, state)), None)

    def add(self, record: IssueRecord) -> None:
        record.id = len(self.records) + 1
        self.records[record.id] = record

    def get(self, record_id: int) -> IssueRecord | None:
        return self.records.get(record_id)

    def find(self, *, owner: str | None = None, state: str | None = None, states: Collection[str] | None = None,
             type: str | None = None, object_type: str | None = None, object_id: str | None = None,
             limit: int = 500, offset: int = 0) -> Sequence[IssueRecord]:
        rows = [r for r in self.records.values() if (owner is None or r.owner == owner)
                and (state is None or r.state == state) and (states is None or r.state in states)
                and (type is None or r.type == type) and (object_type is None or r.object_type == object_type)
                and (object_id is None or r.object_id == object_id)]
        rows.sort(key=lambda r: (r.last_seen or _EARLIEST, r.id), reverse=True)
        return rows[offset:offset + limit]

    def of_type_by_object(self, code: str, states: Collection[str]) -> Sequence[IssueRecord]:
        return sorted((r for r in self.records.values() if r.type == code and r.state in states),
                      key=lambda r: r.object_id)

    def counts_by_owner(self, states: Collection[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records.values():
            if r.state in states:
                counts[r.owner] = counts.get(r.owner, 0) + 1
        return counts

    def counts_by_type(self, states: Collection[str]) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for r in self.records.values():
            if r.state in states:
                counts[(r.type, r.owner)] = counts.get((r.type, r.owner), 0) + 1
        return counts

    def resolved_by_someone(self, code: str, object_id: str, resolved_state: str, *, not_by: str) -> bool:
        return any(r.type == code and r.object_id == object_id and r.state == resolved_state
                   and r.resolved_by is not None and r.resolved_by != not_by for r in self.records.values())

    def add_audit(self, actor: str, action: str, object_type: str, object_id: str, detail: dict[str, Any]) -> None:
        self.log.append((actor, action, object_type, object_id, detail))


@dataclass
class FakeStockRecords:
    """The part of :class:`marketbridge.ports.StockRecords` a SKU link uses: the hints it notes."""

    hints: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)

    def note_hints(self, skus: Iterable[str], **flags: Any) -> int:
        self.hints.append((list(skus), flags))
        return len(self.hints[-1][0])


@dataclass
class FakeSkuLinks:
    rows: dict[str, SkuLink] = field(default_factory=dict)
    records: FakeIssuesRepository = field(default_factory=FakeIssuesRepository)
    stock: FakeStockRecords = field(default_factory=FakeStockRecords)
    flushes: int = 0

    @property
    def issues(self) -> issue_service.RepositoryIssueLog:
        return issue_service.RepositoryIssueLog(self.records)

    def linked(self, offer_sku: str) -> str | None:
        row = self.rows.get(offer_sku)
        return row.magento_sku if row is not None else None

    def magento_sku_for(self, offer_sku: str) -> str:
        return self.linked(offer_sku) or offer_sku

    def offer_sku_for(self, magento_sku: str) -> str:
        return next((r.offer_sku for r in self.rows.values() if r.magento_sku == magento_sku), magento_sku)

    def all_links(self) -> dict[str, str]:
        return {offer: row.magento_sku for offer, row in self.rows.items()}

    def link_row(self, offer_sku: str) -> SkuLink | None:
        return self.rows.get(offer_sku)

    def link_rows(self) -> Sequence[SkuLink]:
        return [self.rows[k] for k in sorted(self.rows)]

    def add_link(self, row: SkuLink) -> None:
        self.rows[row.offer_sku] = row

    def remove_link(self, row: SkuLink) -> None:
        del self.rows[row.offer_sku]

    def flush(self) -> None:
        self.flushes += 1
