"""The issue records' storage port (implemented in :mod:`marketbridge.adapters.db.issues`).

``services.issues`` keeps the rules: which states are active, that a repeat updates the active
record, that an *ignored* record stays ignored, what a person's action changes, the audit entry it
writes. This port only finds, adds and counts rows of ``issue_records`` (shared by every flow) and
appends to ``audit_log``. The flows see the same records through the narrower
:class:`marketbridge.ports.IssueLog` (``services.issues.RepositoryIssueLog`` over this port); the
team alerts through :class:`marketbridge.ports.AlertsRepository`.

Records handed out are changed in place by the service (count, last seen, state, resolution,
assignee); the unit of work keeps the changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.core import IssueRecord


class IssuesRepository(Protocol):
    """What ``services.issues`` reads and writes in one unit of work."""

    def newest_in_states(self, code: str, object_type: str, object_id: str,
                         states: Collection[str]) -> IssueRecord | None:
        """The newest record (highest id) of this type on this object in one of ``states``."""
        ...

    def any_in_state(self, code: str, object_type: str, object_id: str, state: str) -> IssueRecord | None:
        """A record of this type on this object in ``state`` (whichever comes first), or None."""
        ...

    def add(self, record: IssueRecord) -> None:
        """Store a new record at once (its id is set)."""
        ...

    def get(self, record_id: int) -> IssueRecord | None: ...

    def find(self, *, owner: str | None = None, state: str | None = None, states: Collection[str] | None = None,
             type: str | None = None, object_type: str | None = None, object_id: str | None = None,
             limit: int = 500, offset: int = 0) -> Sequence[IssueRecord]:
        """Records matching every filter given (``states``: in one of them), the most recently seen
        first (``last_seen``, then id, descending), one page."""
        ...

    def of_type_by_object(self, code: str, states: Collection[str]) -> Sequence[IssueRecord]:
        """Every record of this type in ``states``, by object id."""
        ...

    def counts_by_owner(self, states: Collection[str]) -> dict[str, int]:
        """Records in ``states`` per owning team (only the teams that have some)."""
        ...

    def counts_by_type(self, states: Collection[str]) -> dict[tuple[str, str], int]:
        """Records in ``states`` per (type code, owning team)."""
        ...

    def resolved_by_someone(self, code: str, object_id: str, resolved_state: str, *, not_by: str) -> bool:
        """Whether a record of this type on this object is in ``resolved_state`` with a
        ``resolved_by`` set and other than ``not_by``."""
        ...

    def add_audit(self, actor: str, action: str, object_type: str, object_id: str, detail: dict[str, Any]) -> None:
        """Append one entry to the activity log (``audit_log``), written with the unit of work."""
        ...


class IssuesStore(Protocol):
    """The issue records' storage: each :meth:`unit_of_work` is one transaction, committed when the
    block ends normally and rolled back when it raises; :meth:`on_session` works in a transaction
    the caller owns (the request's, so an action commits with its activity-log entry)."""

    def unit_of_work(self) -> AbstractContextManager[IssuesRepository]: ...

    def on_session(self, session: Session) -> IssuesRepository: ...
