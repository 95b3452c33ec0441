"""What a person can do about an issue record, from the dashboard or the JSON API.

Every action goes through :func:`perform`, which

1. checks the person's role may act on the record's owning team (``domain.auth.can_act_on``:
   each role acts on its own team's issues, admin on all; everyone may *look*);
2. runs the action: the generic ones (acknowledge, resolve, ignore, reopen, assign) change the
   record through ``services.issues.act``; the flow-specific ones (retry, map a carrier,
   accept or refuse a held order) call the flow's own service, registered in ``runtime.flow_actions``;
3. writes one audit-log row naming who did what to which record, and when.

A flow action is registered per issue type code in a :class:`FlowActions` table.
:mod:`marketbridge.bootstrap` fills it, explicitly, through ``flow_hooks.register_all``
(the one module that knows the other flows' function names) and keeps it on the runtime, so the
dashboard offers only buttons that actually do something. This module imports no flow: the table
is handed in.

Everything happens in an :class:`marketbridge.ports.IssueActionsUnit`, the request's transaction as
the composition root's adapters see it (``runtime.console_store.actions_on(session)``, built by the
web layer): the record is read (and re-read after a flow action) through its ``queries``, changed
and audited through its ``issues``; :func:`perform` commits it before a flow action and the flow
handlers receive it in :class:`ActionContext` (the SKU link writes through its ``links``). This
module names no session and writes no query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.domain.auth import Role, can_act_on
from marketbridge.domain.issues import IssueState
from marketbridge.services import issues as issue_service

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.core import IssueRecord, User
    from marketbridge.ports.console import IssueActionsUnit

log = structlog.get_logger(__name__)

GENERIC_ACTIONS = ("acknowledge", "assign", "resolve", "ignore", "reopen")


class ActionRefused(Exception):
    """The action is not allowed for this person or this record; the text says why, in plain words.

    ``forbidden`` is True when the person's role may not act on the record at all (HTTP 403), False
    when the action does not fit the record or its input (HTTP 409/400).
    """

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class ActionFailed(Exception):
    """The action was allowed but the flow could not carry it out; the text says why."""


@dataclass(frozen=True)
class ActionContext:
    """What a flow action handler receives: ``unit`` is the request's transaction (committed
    before the handler runs; what the handler writes in it commits with the action's audit entry)."""

    unit: IssueActionsUnit
    runtime: Any
    record: IssueRecord
    actor: str
    params: dict[str, str]


@dataclass(frozen=True)
class FlowAction:
    name: str
    label: str
    handler: Callable[[ActionContext], str]
    #: form fields the action needs (name -> label shown next to the input)
    fields: dict[str, str] = field(default_factory=dict)
    #: resolve the record after the handler succeeded
    resolves: bool = True
    #: issue types this action applies to
    types: frozenset[str] = frozenset()


class FlowActions:
    """Issue type code → the flow actions offered on it (built by bootstrap)."""

    def __init__(self) -> None:
        self._by_type: dict[str, list[FlowAction]] = {}

    def register(self, types: list[str] | tuple[str, ...], action: FlowAction) -> None:
        """Offer ``action`` on every type in ``types`` (an action of the same name is replaced)."""
        for code in types:
            existing = [a for a in self._by_type.setdefault(code, []) if a.name != action.name]
            self._by_type[code] = [*existing, action]

    def for_type(self, code: str) -> list[FlowAction]:
        return list(self._by_type.get(code, []))

    def items(self) -> list[tuple[str, list[FlowAction]]]:
        return [(code, list(actions)) for code, actions in self._by_type.items()]


def available_actions(record: IssueRecord, flow_actions: FlowActions) -> list[str]:
    """Names of the actions that make sense for the record in its current state."""
    state = IssueState(record.state)
    names: list[str] = []
    if state.is_active:
        names += [a.name for a in flow_actions.for_type(record.type)]
        if state is IssueState.OPEN:
            names.append("acknowledge")
        names += ["assign", "resolve", "ignore"]
    else:
        names.append("reopen")
    return names


@dataclass(frozen=True)
class ActionResult:
    record: IssueRecord
    message: str


def perform(
    unit: IssueActionsUnit,
    runtime: Any,
    user: User,
    record_id: int,
    action: str,
    params: dict[str, str] | None = None,
) -> ActionResult:
    """Carry out ``action`` on issue ``record_id`` as ``user``. Audited. See the module doc."""
    params = {k: v.strip() for k, v in (params or {}).items() if isinstance(v, str)}
    queries = unit.queries
    record = queries.issue_record(record_id)
    if record is None:
        raise LookupError(f"There is no exception number {record_id}.")
    try:
        role = Role(user.role)
    except ValueError:
        raise ActionRefused(f"{user.name} has an unknown role and may not act.", forbidden=True) from None
    if not can_act_on(role, record.owner):
        raise ActionRefused(
            f"This exception belongs to the {record.owner.replace('_', ' ')} team; "
            f"your role ({role.value.replace('_', ' ')}) can look at it but not act on it.",
            forbidden=True,
        )
    if action not in available_actions(record, runtime.flow_actions):
        raise ActionRefused(f"'{action}' is not possible on this exception while it is {record.state}.")

    if action in GENERIC_ACTIONS:
        assignee = None
        if action == "assign":
            assignee = params.get("assignee") or None
            if assignee is not None and len(assignee) > 64:
                raise ActionRefused("A name to assign to has at most 64 characters.")
        issue_service.act(unit.issues, record_id, action, actor=user.name, assignee=assignee)
        message = {
            "acknowledge": "Marked as being looked at.",
            "assign": f"Assigned to {assignee}." if assignee else "No longer assigned to anyone.",
            "resolve": "Marked as resolved.",
            "ignore": "Ignored: repeats of this problem on this object will not reopen it.",
            "reopen": "Reopened.",
        }[action]
        return ActionResult(record, message)

    flow_action = next(a for a in runtime.flow_actions.for_type(record.type) if a.name == action)
    missing = [label for name, label in flow_action.fields.items() if not params.get(name)]
    if missing:
        raise ActionRefused("Please fill in: " + ", ".join(missing) + ".")
    context = ActionContext(unit=unit, runtime=runtime, record=record, actor=user.name, params=params)
    # Flow services write in their own transactions; release ours first (SQLite has one writer,
    # and e.g. the bearer token's last-used time is already pending here).
    unit.commit()
    try:
        try:
            message = flow_action.handler(context)
        except (ActionRefused, ActionFailed):
            raise
        except LookupError as error:
            raise ActionFailed(str(error)) from error
        except ValueError as error:
            raise ActionRefused(str(error)) from error
    except (ActionRefused, ActionFailed) as outcome:
        # the attempt is a human action too: keep it in the audit log even though it did nothing
        unit.rollback()
        issue_service.audit(unit.issues, user.name, f"exception.{action}.failed", "exception", str(record_id),
                                type=record.type, reason=str(outcome)[:500])
        unit.commit()
        raise
    queries.reread(record)  # the flow's own transaction may have resolved it already
    issue_service.audit(
        unit.issues, user.name, f"exception.{action}", "exception", str(record_id),
        type=record.type, about=f"{record.object_type} {record.object_id}",
        **{f"param_{k}": v for k, v in params.items() if k not in ("csrf_token", "do")},
    )
    if flow_action.resolves and IssueState(record.state).is_active:
        issue_service.act(unit.issues, record_id, "resolve", actor=user.name)
    log.info("exception.flow_action", action=action, record=record_id, actor=user.name)
    return ActionResult(record, message)


# --- a flow action of no particular flow ---------------------------------------------------------


def retry_workflow(ctx: ActionContext) -> str:
    """``workflow_failed``: resume the stopped DBOS workflow from its last completed step."""
    workflow_id = ctx.record.object_id
    try:
        ctx.runtime.engine.client().resume_workflow(workflow_id)
    except Exception as error:  # the DBOS client raises its own error classes
        raise ActionFailed(f"The background job {workflow_id} could not be restarted: {type(error).__name__}.") from error
    return f"The background job {workflow_id} was restarted from where it stopped."
