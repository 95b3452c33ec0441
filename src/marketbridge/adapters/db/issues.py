"""The issue records' storage over SQLAlchemy: :class:`SqlIssuesStore` implements
:class:`marketbridge.ports.IssuesStore` (issue 18 item 2), so the queries on ``issue_records`` and
the inserts into ``audit_log`` that ``services.issues`` (recording, clearing, listing and acting on
records) needs are written here. They are the statements the service ran before: the active record
is one ``SELECT ... ORDER BY id DESC LIMIT 1``, an ignored one ``... LIMIT 1``, a new record is an
``INSERT`` flushed at once, the counts are ``GROUP BY`` queries, an audit entry is added to the
session (written with the rest of the transaction).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord
from marketbridge.adapters.db.store import SqlStore


class SqlIssuesRepository:
    """:class:`marketbridge.ports.IssuesRepository` on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def newest_in_states(self, code: str, object_type: str, object_id: str,
                         states: Collection[str]) -> IssueRecord | None:
        return self.session.scalars(
            select(IssueRecord)
            .where(
                IssueRecord.type == code,
                IssueRecord.object_type == object_type,
                IssueRecord.object_id == object_id,
                IssueRecord.state.in_(states),
            )
            .order_by(IssueRecord.id.desc())
            .limit(1)
        ).first()

    def any_in_state(self, code: str, object_type: str, object_id: str, state: str) -> IssueRecord | None:
        return self.newest_in_states(code, object_type, object_id, (state,))

    def add(self, record: IssueRecord) -> None:
        self.session.add(record)
        self.session.flush()

    def get(self, record_id: int) -> IssueRecord | None:
        return self.session.get(IssueRecord, record_id)

    def find(self, *, owner: str | None = None, state: str | None = None, states: Collection[str] | None = None,
             type: str | None = None, object_type: str | None = None, object_id: str | None = None,
             limit: int = 500, offset: int = 0) -> Sequence[IssueRecord]:
        query = select(IssueRecord)
        if owner is not None:
            query = query.where(IssueRecord.owner == owner)
        if state is not None:
            query = query.where(IssueRecord.state == state)
        if states is not None:
            query = query.where(IssueRecord.state.in_(states))
        if type is not None:
            query = query.where(IssueRecord.type == type)
        if object_type is not None:
            query = query.where(IssueRecord.object_type == object_type)
        if object_id is not None:
            query = query.where(IssueRecord.object_id == object_id)
        query = query.order_by(IssueRecord.last_seen.desc(), IssueRecord.id.desc())
        return self.session.scalars(query.limit(limit).offset(offset)).all()

    def of_type_by_object(self, code: str, states: Collection[str]) -> Sequence[IssueRecord]:
        return self.session.scalars(select(IssueRecord).where(
            IssueRecord.type == code, IssueRecord.state.in_(states)).order_by(IssueRecord.object_id)).all()

    def counts_by_owner(self, states: Collection[str]) -> dict[str, int]:
        rows = self.session.execute(
            select(IssueRecord.owner, func.count())
            .where(IssueRecord.state.in_(states))
            .group_by(IssueRecord.owner)
        ).all()
        return {owner: int(n) for owner, n in rows}

    def counts_by_type(self, states: Collection[str]) -> dict[tuple[str, str], int]:
        rows = self.session.execute(
            select(IssueRecord.type, IssueRecord.owner, func.count())
            .where(IssueRecord.state.in_(states))
            .group_by(IssueRecord.type, IssueRecord.owner)
        ).all()
        return {(code, owner): int(n) for code, owner, n in rows}

    def resolved_by_someone(self, code: str, object_id: str, resolved_state: str, *, not_by: str) -> bool:
        return self.session.scalars(select(IssueRecord.id).where(
            IssueRecord.type == code, IssueRecord.object_id == object_id,
            IssueRecord.state == resolved_state,
            IssueRecord.resolved_by.is_not(None), IssueRecord.resolved_by != not_by)).first() is not None

    def add_audit(self, actor: str, action: str, object_type: str, object_id: str, detail: dict[str, Any]) -> None:
        self.session.add(
            AuditLogEntry(actor=actor, action=action, object_type=object_type, object_id=object_id, detail=detail)
        )


class SqlIssuesStore(SqlStore[SqlIssuesRepository]):
    """:class:`marketbridge.ports.IssuesStore` on a :class:`Database`."""

    def repository(self, session: Session) -> SqlIssuesRepository:
        return SqlIssuesRepository(session)
