"""In-memory fake of :class:`marketbridge.ports.ConsoleQueries` (and its store) for unit tests of
``services.console.dashboard``: issue records, activity log lines and poll cursors in lists, the
installed tables in a set, and the other flows' answers (open counts, the stock lag) computed from
the records or set by the test. Nothing here writes: the console only reads (an action's unit of
work, :class:`FakeIssueActionsUnit`, only counts its commits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord
from marketbridge.domain.issues import Team
from marketbridge.services import issues as issue_service

SEEN = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)


@dataclass
class FakeConsoleQueries:
    records: list[IssueRecord] = field(default_factory=list)
    log: list[AuditLogEntry] = field(default_factory=list)
    cursors: list[tuple[str, dt.datetime | None]] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)
    engine_tables: bool = False
    oldest_stock_change: dt.datetime | None = None
    rereads: int = 0

    def add_record(self, type_: str, object_id: str, *, owner: str = "ops", severity: str = "critical",
                   state: str = "open", seen: dt.datetime = SEEN) -> IssueRecord:
        record = IssueRecord(id=len(self.records) + 1, type=type_, object_type="order", object_id=object_id,
                             owner=owner, severity=severity, message=f"{type_} on {object_id}", state=state,
                             first_seen=seen, last_seen=seen)
        self.records.append(record)
        return record

    def add_log(self, actor: str, action: str, object_id: str = "", *, at: dt.datetime = SEEN,
                object_type: str = "user", **detail: Any) -> AuditLogEntry:
        entry = AuditLogEntry(id=len(self.log) + 1, at=at, actor=actor, action=action, object_type=object_type,
                              object_id=object_id, detail=detail)
        self.log.append(entry)
        return entry

    # ------------------------------------------------------------------ the port
    def has_table(self, name: str, schema: str | None = None) -> bool:
        return name in self.tables

    def engine_tables_exist(self, workflow_database_url: str | None) -> bool:
        return self.engine_tables

    def _active(self) -> list[IssueRecord]:
        return [r for r in self.records if r.state in issue_service.ACTIVE_STATES]

    def open_counts_by_owner(self) -> dict[str, int]:
        counts = {team.value: 0 for team in Team}
        for record in self._active():
            counts[record.owner] = counts.get(record.owner, 0) + 1
        return counts

    def open_counts_by_type(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for record in self._active():
            counts[(record.type, record.owner)] = counts.get((record.type, record.owner), 0) + 1
        return counts

    def critical_counts_by_owner(self, states: Collection[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records:
            if record.state in states and record.severity == "critical":
                counts[record.owner] = counts.get(record.owner, 0) + 1
        return counts

    def issues(self, *, states: Collection[str] | None, team: str | None, type_code: str | None,
               search: str | None, limit: int) -> Sequence[IssueRecord]:
        rows = [r for r in self.records if (states is None or r.state in states) and (not team or r.owner == team)
                and (not type_code or r.type == type_code) and (not search or search in r.object_id)]
        return sorted(rows, key=lambda r: (r.last_seen, r.id), reverse=True)[:limit]

    def issue_record(self, record_id: int) -> IssueRecord | None:
        return next((r for r in self.records if r.id == record_id), None)

    def reread(self, record: IssueRecord) -> None:
        self.rereads += 1

    def issues_of_objects(self, object_ids: Collection[str], states: Collection[str]) -> Sequence[IssueRecord]:
        return [r for r in self.records if r.object_id in object_ids and r.state in states]

    def issues_of_types(self, codes: Collection[str], states: Collection[str], *,
                        limit: int | None = None) -> Sequence[IssueRecord]:
        rows = [r for r in self.records if r.type in codes and r.state in states]
        return sorted(rows, key=lambda r: r.first_seen)[:limit] if limit is not None else rows

    def issue_history(self, record_id: int, limit: int) -> Sequence[AuditLogEntry]:
        rows = [e for e in self.log if e.object_type == "exception" and e.object_id == str(record_id)]
        return sorted(rows, key=lambda e: (e.at, e.id), reverse=True)[:limit]

    def activity(self, *, actor: str | None, without_action: str | None, limit: int) -> Sequence[AuditLogEntry]:
        rows = [e for e in self.log if (not actor or e.actor == actor)
                and (without_action is None or e.action != without_action)]
        return sorted(rows, key=lambda e: (e.at, e.id), reverse=True)[:limit]

    def oldest_unsent_stock_change(self) -> dt.datetime | None:
        return self.oldest_stock_change

    def cursor_moves(self) -> Sequence[tuple[str, dt.datetime | None]]:
        return list(self.cursors)


@dataclass
class FakeIssueActionsUnit:
    """:class:`marketbridge.ports.IssueActionsUnit` on the fake queries: the tests of
    ``services.console.actions`` that stop before a write need no issues or links (None), and the
    unit counts its commits and rollbacks."""

    queries: FakeConsoleQueries
    issues: Any = None
    links: Any = None
    commits: int = 0
    rollbacks: int = 0

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1


@dataclass
class FakeConsoleStore:
    queries: FakeConsoleQueries = field(default_factory=FakeConsoleQueries)

    def on_session(self, session: Any) -> FakeConsoleQueries:
        return self.queries

    def actions_on(self, session: Any) -> FakeIssueActionsUnit:
        return FakeIssueActionsUnit(self.queries)
