"""In-memory fake of :class:`marketbridge.ports.AlertsStore` for unit tests of ``services.alerts``,
and a notifier that records what it was asked to send.

The fake keeps ``IssueRecord`` objects by id with every column the alerts read set, and hands out
the stored records themselves. :meth:`FakeAlertsRepository.claim` behaves like the SQL's
conditional update: a record already stamped inside the window (``alerted_at >= alerted_before``)
is not claimed; ``taken_elsewhere`` lists record ids another worker claims first (they are stamped
by that worker, not by this run). ``commits`` counts the claims' commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.models.core import IssueRecord
from tests.fakes import FakeRepository

FIRST_SEEN = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)


@dataclass
class FakeAlertsStore:
    records: dict[int, IssueRecord] = field(default_factory=dict)
    taken_elsewhere: set[int] = field(default_factory=set)
    commits: int = 0
    flushes: int = 0

    def add(self, type_: str, object_id: str, message: str, *, owner: str = "ops", severity: str = "critical",
            state: str = "open", first_seen: dt.datetime = FIRST_SEEN, alerted_at: dt.datetime | None = None,
            suggested_action: str = "") -> IssueRecord:
        record = IssueRecord(id=len(self.records) + 1, type=type_, object_type="workflow", object_id=object_id,
                             owner=owner, severity=severity, message=message, detail="",
                             suggested_action=suggested_action, state=state, first_seen=first_seen,
                             last_seen=first_seen, alerted_at=alerted_at)
        self.records[record.id] = record
        return record

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeAlertsRepository]:
        yield FakeAlertsRepository(self)

    def on_session(self, session: Any) -> FakeAlertsRepository:
        return FakeAlertsRepository(self)


def _due(record: IssueRecord, before: dt.datetime) -> bool:
    return record.alerted_at is None or record.alerted_at < before


def _oldest_first(records: list[IssueRecord]) -> list[IssueRecord]:
    return sorted(records, key=lambda r: (r.first_seen, r.id))


class FakeAlertsRepository(FakeRepository):
    store: FakeAlertsStore

    def urgent_candidates(self, *, states: Collection[str], severity: str,
                          alerted_before: dt.datetime) -> Sequence[IssueRecord]:
        return _oldest_first([r for r in self.store.records.values()
                              if r.state in states and r.severity == severity and _due(r, alerted_before)])

    def alerted_elsewhere_since(self, record: IssueRecord, since: dt.datetime) -> bool:
        return any(r.id != record.id and (r.type, r.object_type, r.object_id)
                   == (record.type, record.object_type, record.object_id)
                   and r.alerted_at is not None and r.alerted_at >= since for r in self.store.records.values())

    def claim(self, records: Sequence[IssueRecord], at: dt.datetime, *,
              alerted_before: dt.datetime) -> list[IssueRecord]:
        claimed = []
        for record in records:
            stored = self.store.records[record.id]
            if record.id in self.store.taken_elsewhere:
                stored.alerted_at = at  # the other worker's stamp
            elif _due(stored, alerted_before):
                stored.alerted_at = at
                claimed.append(stored)
        self.store.commits += 1
        return claimed

    def open_records_of(self, team: str, states: Collection[str]) -> Sequence[IssueRecord]:
        return _oldest_first([r for r in self.store.records.values() if r.owner == team and r.state in states])

    def flush(self) -> None:
        self.store.flushes += 1


class RecordingNotifier:
    """A ``Notifier`` that keeps every message; URLs in ``failing`` refuse delivery."""

    def __init__(self, failing: Collection[str] = ()) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failing = set(failing)

    def send(self, urls: list[str], title: str, body: str, *, urgent: bool = False) -> bool:
        self.sent.append({"urls": urls, "title": title, "body": body, "urgent": urgent})
        return not any(url in self.failing for url in urls)
