"""Recording, clearing, listing and acting on issue records.

Flows call :func:`record` when they meet a problem and :func:`clear` when they see that the same
problem on the same object is gone; both are idempotent and cheap, so a flow can call them on
every pass. People act through :func:`act` (dashboard and CLI), which writes the audit log.

The rules live here; the rows are found, added and counted through
:class:`marketbridge.ports.IssuesRepository` (:mod:`marketbridge.adapters.db.issues`), and flows see
them through the :class:`marketbridge.ports.IssueLog` of their unit of work
(:class:`RepositoryIssueLog`). Callers not yet on a port hand in their session instead
(:data:`Issues`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.issues import SqlIssuesRepository
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.store import OrSession, on_repository
from marketbridge.domain.issues import (
    IssueReport,
    IssueState,
    IssueType,
    ObjectType,
    Team,
)
from marketbridge.ports.issues import IssuesRepository

log = structlog.get_logger(__name__)

ACTIVE_STATES = (IssueState.OPEN.value, IssueState.ACKNOWLEDGED.value)

#: What the functions below act on: the issues' repository (``runtime.issues_store``), or a bare
#: session still handed in by a caller not yet on a port (the stock flow, the maintenance workflow,
#: the CLI, tests), on which they build the SQL repository.
Issues = OrSession[IssuesRepository]


def issues_on(target: Issues) -> IssuesRepository:
    """The repository to act on (see :data:`Issues`)."""
    return on_repository(target, SqlIssuesRepository)


def _active(issues: IssuesRepository, code: str, object_type: str, object_id: str) -> IssueRecord | None:
    return issues.newest_in_states(code, object_type, object_id, ACTIVE_STATES)


def record(target: Issues, report: IssueReport) -> IssueRecord:
    """Open a record for ``report``, or update the active one for the same type and object.

    An *ignored* record for the same key stays ignored: a person decided it does not matter, so a
    repeat only bumps its count and last-seen time instead of opening a new record.
    """
    issues = issues_on(target)
    code, object_type, object_id = report.key
    now = utcnow()
    existing = _active(issues, code, object_type, object_id)
    if existing is None:
        ignored = issues.any_in_state(code, object_type, object_id, IssueState.IGNORED.value)
        if ignored is not None:
            ignored.count += 1
            ignored.last_seen = now
            return ignored
    if existing is not None:
        existing.count += 1
        existing.last_seen = now
        existing.message = report.message
        existing.detail = report.detail
        if report.context:
            existing.context = {**(existing.context or {}), **report.context}
        return existing
    record_ = IssueRecord(
        type=code,
        object_type=object_type,
        object_id=object_id,
        owner=report.type.owner.value,
        severity=(report.severity or report.type.severity).value,
        message=report.message,
        detail=report.detail,
        suggested_action=report.suggested_action or report.type.action,
        state=IssueState.OPEN.value,
        context=dict(report.context),
        count=1,
        first_seen=now,
        last_seen=now,
    )
    issues.add(record_)
    log.info("exception.opened", type=code, object_type=object_type, object_id=object_id, owner=record_.owner)
    return record_


def clear(target: Issues, type_: IssueType, object_id: str, *, by: str = "system") -> int:
    """Resolve the active record of this type on this object, if any: the condition is gone."""
    existing = _active(issues_on(target), type_.code, type_.object_type.value, object_id)
    if existing is None:
        return 0
    existing.state = IssueState.RESOLVED.value
    existing.resolved_at = utcnow()
    existing.resolved_by = by
    log.info("exception.auto_resolved", type=type_.code, object_id=object_id)
    return 1


def is_active(target: Issues, type_: IssueType, object_id: str) -> bool:
    return _active(issues_on(target), type_.code, type_.object_type.value, object_id) is not None


@dataclass(frozen=True)
class IssueFilter:
    owner: Team | None = None
    state: IssueState | None = None
    type: str | None = None
    object_type: ObjectType | None = None
    object_id: str | None = None
    active_only: bool = False
    limit: int = 500
    offset: int = 0


def list_records(target: Issues, filters: IssueFilter = IssueFilter()) -> Sequence[IssueRecord]:
    return issues_on(target).find(
        owner=filters.owner.value if filters.owner is not None else None,
        state=filters.state.value if filters.state is not None else None,
        states=ACTIVE_STATES if filters.active_only else None,
        type=filters.type,
        object_type=filters.object_type.value if filters.object_type is not None else None,
        object_id=filters.object_id, limit=filters.limit, offset=filters.offset)


def open_counts_by_owner(target: Issues) -> dict[str, int]:
    counts = {team.value: 0 for team in Team}
    counts.update(issues_on(target).counts_by_owner(ACTIVE_STATES))
    return counts


def open_counts_by_type(target: Issues) -> dict[tuple[str, str], int]:
    return issues_on(target).counts_by_type(ACTIVE_STATES)


class ActionNotAllowed(Exception):
    pass


HUMAN_ACTIONS = {
    "acknowledge": IssueState.ACKNOWLEDGED,
    "resolve": IssueState.RESOLVED,
    "ignore": IssueState.IGNORED,
    "reopen": IssueState.OPEN,
}


def audit(target: Issues, actor: str, action: str, object_type: str = "", object_id: str = "", **detail: Any) -> None:
    """Write a person's action to the activity log (with the caller's transaction)."""
    issues_on(target).add_audit(actor, action, object_type, object_id, detail)


def act(
    target: Issues,
    record_id: int,
    action: str,
    *,
    actor: str,
    assignee: str | None = None,
) -> IssueRecord:
    """A person acts on a record: acknowledge, resolve, ignore, reopen or assign. Audited."""
    issues = issues_on(target)
    record_ = issues.get(record_id)
    if record_ is None:
        raise LookupError(f"no exception record {record_id}")
    if action == "assign":
        record_.assignee = assignee
    elif action in HUMAN_ACTIONS:
        new_state = HUMAN_ACTIONS[action]
        record_.state = new_state.value
        if new_state in (IssueState.RESOLVED, IssueState.IGNORED):
            record_.resolved_at = utcnow()
            record_.resolved_by = actor
        else:
            record_.resolved_at = None
            record_.resolved_by = None
    else:
        raise ActionNotAllowed(f"unknown action {action!r}")
    audit(issues, actor, f"exception.{action}", "exception", str(record_id), assignee=assignee)
    return record_


def to_dict(record_: IssueRecord) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": record_.id,
        "type": record_.type,
        "object_type": record_.object_type,
        "object_id": record_.object_id,
        "owner": record_.owner,
        "severity": record_.severity,
        "state": record_.state,
        "message": record_.message,
        "detail": record_.detail,
        "suggested_action": record_.suggested_action,
        "assignee": record_.assignee,
        "count": record_.count,
        "first_seen": iso(record_.first_seen),
        "last_seen": iso(record_.last_seen),
        "resolved_at": iso(record_.resolved_at),
        "context": record_.context or {},
    }


class IssueView(BaseModel):
    """One issue record as ``GET /api/exceptions`` shows it (the shape of :func:`to_dict`): times are
    ISO 8601 strings, ``context`` the record's machine-readable facts (ids, SKUs, import ids)."""

    model_config = ConfigDict(frozen=True)

    id: int
    type: str
    object_type: str
    object_id: str
    owner: str
    severity: str
    state: str
    message: str
    detail: str | None = None
    suggested_action: str | None = None
    assignee: str | None = None
    count: int
    first_seen: str | None = None
    last_seen: str | None = None
    resolved_at: str | None = None
    context: dict[str, Any]


class IssueActionResult(BaseModel):
    """What ``POST /api/exceptions/{id}/actions`` answers: the outcome in words and the record after
    it (the JSON key keeps the teams' word, ``exception``)."""

    model_config = ConfigDict(frozen=True)

    message: str
    exception: IssueView


class RepositoryIssueLog:
    """The :class:`marketbridge.ports.IssueLog` port over the issues' repository (or a bare
    session): what a flow's unit of work (e.g.
    :class:`marketbridge.adapters.db.shipments.SqlShipmentsStore`) hands out for its issue records,
    so the flow raises and clears them without naming the session or the table."""

    def __init__(self, target: Issues) -> None:
        self.issues = issues_on(target)

    def record(self, report: IssueReport) -> None:
        record(self.issues, report)

    def clear(self, type_: IssueType, object_id: str, *, by: str = "system") -> None:
        clear(self.issues, type_, object_id, by=by)

    def audit(self, actor: str, action: str, object_type: str = "", object_id: str = "", **detail: Any) -> None:
        audit(self.issues, actor, action, object_type, object_id, **detail)

    def active_ids(self, type_: IssueType) -> list[str]:
        return [r.object_id for r in list_records(self.issues, IssueFilter(type=type_.code, active_only=True))]

    def resolved_by_a_person(self, type_: IssueType, object_id: str) -> bool:
        return self.issues.resolved_by_someone(type_.code, object_id, IssueState.RESOLVED.value, not_by="system")


#: The name the composition root and the other flows' wiring knew it by (it took a session).
SessionIssueLog = RepositoryIssueLog
