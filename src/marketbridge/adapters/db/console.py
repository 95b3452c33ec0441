"""The operations console's reads over SQLAlchemy: :class:`SqlConsoleQueries` implements
:class:`marketbridge.ports.ConsoleQueries` (issue 18 item 2), so the queries of
``services.console.dashboard`` and ``services.console.actions`` on ``issue_records``, ``audit_log``
and ``stream_cursors``, and the schema look-ups (is a flow's table there, has the workflow engine
created its tables), are written here. They are the statements the dashboard ran before.

The console's reads of other flows' data are those flows' query functions, handed in by the
composition root (:mod:`marketbridge.bootstrap`): the issue counts of ``services.issues`` and the
stock lag of ``services.stock.queries``; this adapter does not import the services.

:func:`has_table` is also what the web pages ask before they render a flow's section (a flow not
installed yet shows as "not available"): it runs no query on the flow's data, it inspects the schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.engine_store import holds_engine_tables, sqlite_file
from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord, StreamCursor
from marketbridge.ports.issues import IssuesRepository
from marketbridge.ports.shared import SkuLinksRepository


def has_table(session: Session, name: str, schema: str | None = None) -> bool:
    """Whether the table exists; False also when the database cannot be reached (an unreachable
    database shows as "not available", never a crash)."""
    try:
        return bool(sa_inspect(session.get_bind()).has_table(name, schema=schema))
    except Exception:
        return False


def _session_file(session: Session) -> Path | None:
    url = session.get_bind().engine.url
    path = sqlite_file(url.render_as_string(hide_password=False))
    return path.resolve() if path is not None else None


class SqlConsoleQueries:
    """:class:`marketbridge.ports.ConsoleQueries` on one session."""

    def __init__(self, session: Session, *, open_counts_by_owner: Callable[[Session], dict[str, int]],
                 open_counts_by_type: Callable[[Session], dict[tuple[str, str], int]],
                 oldest_unsent_change: Callable[[Session], dt.datetime | None]) -> None:
        self.session = session
        self._open_counts_by_owner = open_counts_by_owner
        self._open_counts_by_type = open_counts_by_type
        self._oldest_unsent_change = oldest_unsent_change

    # ------------------------------------------------------------------ what is installed
    def has_table(self, name: str, schema: str | None = None) -> bool:
        return has_table(self.session, name, schema)

    def engine_tables_exist(self, workflow_database_url: str | None) -> bool:
        session = self.session
        if session.get_bind().dialect.name == "postgresql":
            return has_table(session, "workflow_status", schema="dbos")
        engine_file = sqlite_file(workflow_database_url) if workflow_database_url else None
        if engine_file is not None and engine_file.resolve() != _session_file(session):
            return holds_engine_tables(engine_file)
        return has_table(session, "workflow_status")

    # ------------------------------------------------------------------ issue records
    def open_counts_by_owner(self) -> dict[str, int]:
        return self._open_counts_by_owner(self.session)

    def open_counts_by_type(self) -> dict[tuple[str, str], int]:
        return self._open_counts_by_type(self.session)

    def critical_counts_by_owner(self, states: Collection[str]) -> dict[str, int]:
        rows = self.session.execute(
            select(IssueRecord.owner, IssueRecord.id)
            .where(IssueRecord.state.in_(states), IssueRecord.severity == "critical")
        ).all()
        critical: dict[str, int] = {}
        for owner, _ in rows:
            critical[owner] = critical.get(owner, 0) + 1
        return critical

    def issues(self, *, states: Collection[str] | None, team: str | None, type_code: str | None,
               search: str | None, limit: int) -> Sequence[IssueRecord]:
        query = select(IssueRecord)
        if team:
            query = query.where(IssueRecord.owner == team)
        if states is not None:
            query = query.where(IssueRecord.state.in_(states))
        if type_code:
            query = query.where(IssueRecord.type == type_code)
        if search:
            query = query.where(IssueRecord.object_id.contains(search, autoescape=True))
        query = query.order_by(IssueRecord.last_seen.desc(), IssueRecord.id.desc()).limit(limit)
        return self.session.scalars(query).all()

    def issue_record(self, record_id: int) -> IssueRecord | None:
        return self.session.get(IssueRecord, record_id)

    def reread(self, record: IssueRecord) -> None:
        self.session.refresh(record)

    def issues_of_objects(self, object_ids: Collection[str], states: Collection[str]) -> Sequence[IssueRecord]:
        return self.session.scalars(
            select(IssueRecord).where(IssueRecord.object_id.in_(object_ids), IssueRecord.state.in_(states))
        ).all()

    def issues_of_types(self, codes: Collection[str], states: Collection[str], *,
                        limit: int | None = None) -> Sequence[IssueRecord]:
        query = select(IssueRecord).where(IssueRecord.type.in_(codes), IssueRecord.state.in_(states))
        if limit is not None:
            query = query.order_by(IssueRecord.first_seen).limit(limit)
        return self.session.scalars(query).all()

    # ------------------------------------------------------------------ the activity log
    def issue_history(self, record_id: int, limit: int) -> Sequence[AuditLogEntry]:
        return self.session.scalars(
            select(AuditLogEntry)
            .where(AuditLogEntry.object_type == "exception", AuditLogEntry.object_id == str(record_id))
            .order_by(AuditLogEntry.at.desc(), AuditLogEntry.id.desc())
            .limit(limit)
        ).all()

    def activity(self, *, actor: str | None, without_action: str | None, limit: int) -> Sequence[AuditLogEntry]:
        query = select(AuditLogEntry)
        if actor:
            query = query.where(AuditLogEntry.actor == actor)
        if without_action is not None:
            query = query.where(AuditLogEntry.action != without_action)
        return self.session.scalars(
            query.order_by(AuditLogEntry.at.desc(), AuditLogEntry.id.desc()).limit(limit)).all()

    # ------------------------------------------------------------------ lags
    def oldest_unsent_stock_change(self) -> dt.datetime | None:
        return self._oldest_unsent_change(self.session)

    def cursor_moves(self) -> Sequence[tuple[str, dt.datetime | None]]:
        return [(cursor.name, cursor.updated_at) for cursor in self.session.scalars(select(StreamCursor)).all()]


class SqlIssueActionsUnit:
    """:class:`marketbridge.ports.IssueActionsUnit` on the request's session."""

    def __init__(self, session: Session, queries: SqlConsoleQueries, issues: IssuesRepository,
                 links: SkuLinksRepository) -> None:
        self.session = session
        self.queries = queries
        self.issues = issues
        self.links = links

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class SqlConsoleStore:
    """:class:`marketbridge.ports.ConsoleStore`: the console's query objects, with the other flows'
    query functions they delegate to, and the issue records' and SKU links' repositories an
    action's unit of work holds (from the composition root)."""

    def __init__(self, *, open_counts_by_owner: Callable[[Session], dict[str, int]],
                 open_counts_by_type: Callable[[Session], dict[tuple[str, str], int]],
                 oldest_unsent_change: Callable[[Session], dt.datetime | None],
                 issues: Callable[[Session], IssuesRepository],
                 links: Callable[[Session], SkuLinksRepository]) -> None:
        self._open_counts_by_owner = open_counts_by_owner
        self._open_counts_by_type = open_counts_by_type
        self._oldest_unsent_change = oldest_unsent_change
        self._issues = issues
        self._links = links

    def actions_on(self, session: Session) -> SqlIssueActionsUnit:
        return SqlIssueActionsUnit(session, self.on_session(session), self._issues(session), self._links(session))

    def on_session(self, session: Session) -> SqlConsoleQueries:
        return SqlConsoleQueries(session, open_counts_by_owner=self._open_counts_by_owner,
                                 open_counts_by_type=self._open_counts_by_type,
                                 oldest_unsent_change=self._oldest_unsent_change)
