"""The team alerts' storage over SQLAlchemy: :class:`SqlAlertsStore` implements
:class:`marketbridge.ports.AlertsStore` (issue 18 item 2), so the queries on ``issue_records`` that
``services.alerts`` needs are written here. They are the statements the service ran before:

* the candidates are one ``SELECT`` (state, severity, ``alerted_at IS NULL OR alerted_at < window``);
* "alerted lately under another record" is one ``SELECT id ... LIMIT 1`` per candidate;
* a claim is one ``UPDATE ... SET alerted_at = :now WHERE id = :id AND (alerted_at IS NULL OR
  alerted_at < :window)`` per record (``rowcount == 1``: this run has it), not synchronised with the
  session, then ``COMMIT`` and a refresh of the claimed records. The sessions of
  :class:`Database` do not expire on commit, so the other records stay loaded as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.store import SqlStore


class SqlAlertsRepository:
    """:class:`marketbridge.ports.AlertsRepository` on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def urgent_candidates(self, *, states: Collection[str], severity: str,
                          alerted_before: dt.datetime) -> Sequence[IssueRecord]:
        return self.session.scalars(
            select(IssueRecord)
            .where(
                IssueRecord.state.in_(states),
                IssueRecord.severity == severity,
                (IssueRecord.alerted_at.is_(None)) | (IssueRecord.alerted_at < alerted_before),
            )
            .order_by(IssueRecord.first_seen, IssueRecord.id)
        ).all()

    def alerted_elsewhere_since(self, record: IssueRecord, since: dt.datetime) -> bool:
        return self.session.scalars(
            select(IssueRecord.id).where(
                IssueRecord.type == record.type,
                IssueRecord.object_type == record.object_type,
                IssueRecord.object_id == record.object_id,
                IssueRecord.id != record.id,
                IssueRecord.alerted_at.is_not(None),
                IssueRecord.alerted_at >= since,
            ).limit(1)
        ).first() is not None

    def claim(self, records: Sequence[IssueRecord], at: dt.datetime, *,
              alerted_before: dt.datetime) -> list[IssueRecord]:
        claimed: list[IssueRecord] = []
        for record in records:
            result = self.session.execute(
                update(IssueRecord)
                .where(IssueRecord.id == record.id,
                       IssueRecord.alerted_at.is_(None) | (IssueRecord.alerted_at < alerted_before))
                .values(alerted_at=at)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(record)
        self.session.commit()
        for record in claimed:
            self.session.refresh(record)
        return claimed

    def open_records_of(self, team: str, states: Collection[str]) -> Sequence[IssueRecord]:
        return self.session.scalars(
            select(IssueRecord).where(
                and_(IssueRecord.owner == team, IssueRecord.state.in_(states))
            ).order_by(IssueRecord.first_seen, IssueRecord.id)
        ).all()

    def flush(self) -> None:
        self.session.flush()


class SqlAlertsStore(SqlStore[SqlAlertsRepository]):
    """:class:`marketbridge.ports.AlertsStore` on a :class:`Database` (``on_session``: a repository
    on a session the caller owns; ``claim`` still commits it)."""

    def repository(self, session: Session) -> SqlAlertsRepository:
        return SqlAlertsRepository(session)
