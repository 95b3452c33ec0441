"""The team alerts' storage port (implemented in :mod:`marketbridge.adapters.db.alerts`).

``services.alerts`` decides who is told what and when (critical open problems at once, at most once
per ``alert_repeat_hours`` per problem and object; everything else in the daily digest); this port
finds the issue records (``issue_records``, shared by every flow) and stamps them. The only column
the alerts write is ``alerted_at`` (UTC): when the record's urgent alert was claimed for sending,
None before, given back (set to its previous value) when the delivery failed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.core import IssueRecord


class AlertsRepository(Protocol):
    """What the alerts read and write in one unit of work. Records handed out are changed in place
    (``alerted_at``); the unit of work keeps the changes."""

    def urgent_candidates(self, *, states: Collection[str], severity: str,
                          alerted_before: datetime) -> Sequence[IssueRecord]:
        """Records in ``states`` of ``severity`` never alerted or alerted before ``alerted_before``,
        oldest first (``first_seen``, then id)."""
        ...

    def alerted_elsewhere_since(self, record: IssueRecord, since: datetime) -> bool:
        """Whether another record of the same type and object (an earlier, maybe resolved one) was
        alerted at or after ``since``."""
        ...

    def claim(self, records: Sequence[IssueRecord], at: datetime, *,
              alerted_before: datetime) -> list[IssueRecord]:
        """Stamp ``alerted_at = at`` on each record still unstamped (or stamped before
        ``alerted_before``) in storage, one conditional update per record, and **commit at once**,
        so overlapping runs or workers claim each record exactly once before anything is sent. The
        claimed records, re-read (their ``alerted_at`` is ``at``), in the order given."""
        ...

    def open_records_of(self, team: str, states: Collection[str]) -> Sequence[IssueRecord]:
        """Every record owned by ``team`` in ``states``, oldest first (``first_seen``, then id)."""
        ...

    def flush(self) -> None:
        """Write the changes made so far (a storage error surfaces inside the run)."""
        ...


class AlertsStore(Protocol):
    """The alerts' storage: each :meth:`unit_of_work` is one transaction (``claim`` commits inside
    it), committed when the block ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[AlertsRepository]: ...

    def on_session(self, session: Session) -> AlertsRepository: ...
