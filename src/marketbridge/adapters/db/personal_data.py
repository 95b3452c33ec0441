"""The personal-data purge's storage over SQLAlchemy: :class:`SqlPersonalDataStore` implements
:class:`marketbridge.ports.PersonalDataStore` (issue 18 item 2), so the queries of
``services.personal_data`` on ``webhook_events``, ``issue_records`` and ``audit_log`` are written
here. They are the statements the purge ran before: a batch of bodies to cut down is one
``SELECT ... ORDER BY id LIMIT :batch``, the records about an order one ``SELECT`` on the object id
and ``LIKE`` its id, the two retention rules one bulk ``UPDATE`` each (their row counts returned).
The orders due for the purge are read through the orders flow's :class:`SqlOrdersRepository` on
the same session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord
from marketbridge.adapters.db.models.stock import WebhookEvent
from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.adapters.db.store import SqlStore


class SqlPersonalDataRepository:
    """:class:`marketbridge.ports.PersonalDataRepository` on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.orders = SqlOrdersRepository(session)

    def webhook_bodies_before(self, cutoff: dt.datetime, *, batch: int) -> Sequence[WebhookEvent]:
        return self.session.scalars(select(WebhookEvent).where(
            WebhookEvent.body_minimised_at.is_(None), WebhookEvent.received_at < cutoff,
        ).order_by(WebhookEvent.id).limit(batch)).all()

    def issue_records_about(self, order_id: str) -> Sequence[IssueRecord]:
        like = f"%{order_id}%"
        return self.session.scalars(select(IssueRecord).where(or_(
            IssueRecord.object_id == order_id, IssueRecord.object_id.like(like),
            IssueRecord.message.like(like), IssueRecord.detail.like(like)))).all()

    def audit_entries_about(self, order_id: str) -> Sequence[AuditLogEntry]:
        return self.session.scalars(select(AuditLogEntry).where(AuditLogEntry.object_id == order_id)).all()

    def clear_issue_details(self, *, states_not_in: Collection[str], last_seen_before: dt.datetime) -> int:
        result = self.session.execute(update(IssueRecord).where(
            IssueRecord.state.not_in(list(states_not_in)), IssueRecord.last_seen < last_seen_before,
            IssueRecord.detail != "").values(detail=""))
        return int(getattr(result, "rowcount", 0) or 0)

    def forget_actors(self, *, action: str, before: dt.datetime, replacement: str) -> int:
        result = self.session.execute(update(AuditLogEntry).where(
            AuditLogEntry.action == action, AuditLogEntry.at < before,
            AuditLogEntry.actor != replacement).values(actor=replacement, object_id=""))
        return int(getattr(result, "rowcount", 0) or 0)

    def flush(self) -> None:
        self.session.flush()


class SqlPersonalDataStore(SqlStore[SqlPersonalDataRepository]):
    """:class:`marketbridge.ports.PersonalDataStore` on a :class:`Database`."""

    def repository(self, session: Session) -> SqlPersonalDataRepository:
        return SqlPersonalDataRepository(session)
