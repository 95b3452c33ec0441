"""The personal-data purge's storage port (implemented in
:mod:`marketbridge.adapters.db.personal_data`).

``services.personal_data`` keeps the retention rules (what is personal, what a minimised webhook
body keeps, how a customer's strings are redacted, which cut-off applies to what); this port finds
the rows those rules apply to and runs the two bulk updates. It works in the transaction of the
orders flow's housekeeping (the caller commits), so the orders it purges are read through that
flow's repository on the same transaction (:attr:`PersonalDataRepository.orders`).

Rows handed out (``WebhookEvent``, ``IssueRecord``, ``AuditLogEntry``) are changed in place by the
service; the transaction keeps the changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord
    from marketbridge.adapters.db.models.stock import WebhookEvent
    from marketbridge.ports.orders import OrdersRepository


class PersonalDataRepository(Protocol):
    """What the purge reads and writes in the housekeeping's transaction."""

    @property
    def orders(self) -> OrdersRepository:
        """The orders flow's repository on the same transaction (the orders due for the purge)."""
        ...

    def webhook_bodies_before(self, cutoff: dt.datetime, *, batch: int) -> Sequence[WebhookEvent]:
        """Up to ``batch`` webhook events received before ``cutoff`` whose body is not minimised
        yet, oldest first (by id)."""
        ...

    def issue_records_about(self, order_id: str) -> Sequence[IssueRecord]:
        """The issue records on this order or quoting its id (object id, message or detail)."""
        ...

    def audit_entries_about(self, order_id: str) -> Sequence[AuditLogEntry]:
        """The activity-log entries on this order."""
        ...

    def clear_issue_details(self, *, states_not_in: Collection[str], last_seen_before: dt.datetime) -> int:
        """Empty the detail of the records in no state of ``states_not_in`` last seen before
        ``last_seen_before`` (one bulk update); how many records changed."""
        ...

    def forget_actors(self, *, action: str, before: dt.datetime, replacement: str) -> int:
        """Replace the actor of the activity-log entries of ``action`` written before ``before``
        (and not replaced yet) by ``replacement``, and empty their object id (one bulk update); how
        many entries changed."""
        ...

    def flush(self) -> None: ...


class PersonalDataStore(Protocol):
    """The purge's storage: :meth:`on_session` works in the housekeeping's transaction (commits
    nothing); :meth:`unit_of_work` is a transaction of its own."""

    def unit_of_work(self) -> AbstractContextManager[PersonalDataRepository]: ...

    def on_session(self, session: Session) -> PersonalDataRepository: ...
