"""Read models of the operations console: what the pages and ``/metrics`` show, from plain reads.

Every function here only reads, through :class:`marketbridge.ports.ConsoleQueries` (the request's
``runtime.console_store.on_session(session)``; the SQL is in :mod:`marketbridge.adapters.db.console`,
issue 18 item 2). The rules stay here: which states count as active, which flow an issue type and a
cursor belong to, the lag of each flow, and who may see the name typed in a failed log-in. A page
whose flow has not been installed yet (its table missing from the database) gets
:class:`Unavailable` instead of an error, so the console keeps working while the service grows.
What it needs from the workflow engine (its client, the names of each flow's workflows) comes
through ``runtime.engine``: services never reach into ``workflows``.

Flow health comes from the workflow engine's own records (DBOS ``workflow_status``): the last
successful run of each flow's workflows, the last failure, and how many runs wait in its queues.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import structlog

from marketbridge.adapters import metrics
from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain import orders as orders_domain
from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.issues import IssueState, IssueType, Team
from marketbridge.ports.console import ConsoleQueries
from marketbridge.services import issues as issue_service
from marketbridge.services.personal_data import FAILED_LOGIN

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord

log = structlog.get_logger(__name__)

FLOWS: tuple[tuple[str, str], ...] = (
    ("stock", "Stock to John Lewis"),
    ("orders", "Orders from John Lewis"),
    ("shipments", "Shipments to John Lewis"),
    ("refunds", "Refunds to John Lewis"),
    ("catalogue", "Catalogue and audit"),
    ("console", "Alerts to the teams"),
    ("maintenance", "Engine upkeep"),
)


@dataclass(frozen=True)
class Unavailable:
    """A section whose data does not exist yet in this installation."""

    reason: str

    def __bool__(self) -> bool:
        return False


# --- issues ----------------------------------------------------------------------------------


def issue_types() -> dict[str, IssueType]:
    from marketbridge.domain.catalog import all_issue_types

    return all_issue_types()


@dataclass(frozen=True)
class TeamCount:
    team: str
    open: int
    critical: int


def open_issues_by_team(queries: ConsoleQueries) -> list[TeamCount]:
    counts = queries.open_counts_by_owner()
    critical = queries.critical_counts_by_owner(issue_service.ACTIVE_STATES)
    return [TeamCount(team.value, counts.get(team.value, 0), critical.get(team.value, 0)) for team in Team]


def list_issues(
    queries: ConsoleQueries,
    *,
    team: str | None = None,
    state: str | None = None,
    type_code: str | None = None,
    search: str | None = None,
    limit: int = 200,
) -> Sequence[IssueRecord]:
    """Active records by default (``state`` = ``open``/``acknowledged``/``resolved``/``ignored``/``all``)."""
    states: tuple[str, ...] | None
    if state in (None, "", "active"):
        states = issue_service.ACTIVE_STATES
    elif state != "all":
        states = (state,)
    else:
        states = None
    return queries.issues(states=states, team=team or None, type_code=type_code or None,
                          search=search.strip() if search else None, limit=limit)


def issue_history(queries: ConsoleQueries, record_id: int, limit: int = 50) -> Sequence[AuditLogEntry]:
    return queries.issue_history(record_id, limit)


HIDDEN_NAME = "(hidden: failed log-in)"


@dataclass(frozen=True)
class ActivityEntry:
    """One audit log line as shown (a copy: hiding a name must never write to the row)."""

    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def activity(queries: ConsoleQueries, *, actor: str | None = None, limit: int = 200,
             show_login_names: bool = False) -> list[ActivityEntry]:
    """The audit log of human actions, newest first.

    A failed log-in records the name as typed, which may be a customer's name or a password typed
    in the wrong box: only a viewer allowed to see it (``show_login_names``: admins) gets it; for
    the others the line shows without the name, and a search by person skips failed log-ins, so
    that searching a name cannot confirm it was typed.
    """
    without = FAILED_LOGIN if actor and not show_login_names else None
    rows = queries.activity(actor=actor or None, without_action=without, limit=limit)
    out = []
    for row in rows:
        hide = row.action == FAILED_LOGIN and not show_login_names
        out.append(ActivityEntry(row.at, HIDDEN_NAME if hide else row.actor, row.action, row.object_type,
                                 "" if hide else row.object_id, {} if hide else dict(row.detail or {})))
    return out


# --- flow health from the workflow engine ---------------------------------------------------------


@dataclass
class FlowHealth:
    area: str
    label: str
    last_success: dt.datetime | None = None
    last_failure: dt.datetime | None = None
    running: int = 0
    queued: int = 0
    failed_recently: int = 0
    lag_seconds: float | None = None
    lag_note: str = ""
    open_issues: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``ok`` / ``warning`` / ``failing`` / ``idle`` in words a person can act on."""
        if self.last_failure and (self.last_success is None or self.last_failure > self.last_success):
            return "failing"
        if self.failed_recently or self.open_issues:
            return "warning"
        if self.last_success is None and not self.running and not self.queued:
            return "idle"
        return "ok"


def _ms(value: int | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


def _area_of(name: str, names_by_area: dict[str, set[str]]) -> str | None:
    prefix = name.split(".", 1)[0] if "." in name else ""
    for area, names in names_by_area.items():
        if prefix == area or name in names or prefix.startswith(area):
            return area
    return None


def flow_health(runtime: Any, queries: ConsoleQueries,
                now: dt.datetime | None = None) -> list[FlowHealth] | Unavailable:
    """One line per flow: last success, last failure, running and queued runs, open issues."""
    now = now or utcnow()
    flows = {area: FlowHealth(area, label) for area, label in FLOWS}
    by_owner_type = queries.open_counts_by_type()
    types = issue_types()
    for (code, _owner), n in by_owner_type.items():
        type_area = _area_for_type(code, types)
        if type_area in flows:
            flows[type_area].open_issues += n
    _add_lags(queries, flows, now)
    if not queries.engine_tables_exist(runtime.workflow_database_url):
        first = next(iter(flows.values()))
        first.notes.append("The workflow engine has not run on this database yet, so no flow has run.")
        return list(flows.values())
    try:
        client = runtime.engine.client()
        # runs are recorded as ``area.*`` or under the qualnames of the area's workflow functions
        names_by_area = {area: runtime.engine.workflow_names(area) for area in flows}
        day_ago = (now - dt.timedelta(days=1)).isoformat()
        recent = client.list_workflows(start_time=day_ago, load_input=False, load_output=False, limit=2000,
                                       sort_desc=True)
        active = client.list_workflows(status=["PENDING", "ENQUEUED", "DELAYED"], load_input=False,
                                       load_output=False, limit=5000)
    except Exception as error:  # the engine's tables may be missing or busy; the page still renders
        log.warning("dashboard.flow_health_unavailable", error=type(error).__name__)
        return list(flows.values())
    for wf in recent:
        area = _area_of(wf.name, names_by_area)
        if area is None:
            continue
        flow = flows[area]
        finished = _ms(wf.completed_at) or _ms(wf.updated_at)
        if wf.status == "SUCCESS" and finished and (flow.last_success is None or finished > flow.last_success):
            flow.last_success = finished
        if wf.status in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
            flow.failed_recently += 1
            if finished and (flow.last_failure is None or finished > flow.last_failure):
                flow.last_failure = finished
    for wf in active:
        area = _area_of(wf.name, names_by_area)
        if area is None:
            continue
        if wf.status == "PENDING":
            flows[area].running += 1
        else:
            flows[area].queued += 1
    for flow in flows.values():
        if flow.area != "stock" and flow.last_success is not None:
            since = (now - flow.last_success).total_seconds()
            if flow.lag_seconds is None or since < flow.lag_seconds:
                flow.lag_seconds, flow.lag_note = since, "time since the flow last ran successfully"
    return list(flows.values())


def _area_for_type(code: str, types: dict[str, IssueType]) -> str:
    """Which flow raises a type: the domain module that declared it (``domain/<area>.py``)."""
    found = types.get(code)
    if found is None:
        return ""
    return _TYPE_AREAS.get(code) or _guess_area(code)


_TYPE_AREAS: dict[str, str] = {"workflow_failed": "maintenance", "connection_failed": "maintenance"}


#: The domain module of each flow that has one: where its issue types are declared.
_DOMAIN_MODULES = {"stock": stock_domain, "orders": orders_domain, "shipments": shipments_domain,
                   "refunds": refunds_domain, "catalogue": catalogue_domain}


def _guess_area(code: str) -> str:
    for area, module in _DOMAIN_MODULES.items():
        for value in vars(module).values():
            if isinstance(value, IssueType) and value.code == code:
                _TYPE_AREAS[code] = area
                return area
    _TYPE_AREAS[code] = ""
    return ""


def _add_lags(queries: ConsoleQueries, flows: dict[str, FlowHealth], now: dt.datetime) -> None:
    """Lag per flow: for stock, the age of the oldest change not yet sent to the marketplace; for
    the others, how long ago their polling cursor moved (replaced by the time since their last
    successful run when the engine's records show one)."""
    if "stock" in flows and queries.has_table("sync_outbox"):
        try:
            oldest = queries.oldest_unsent_stock_change()
            flows["stock"].lag_seconds = (now - oldest).total_seconds() if oldest is not None else 0.0
            flows["stock"].lag_note = "age of the oldest stock or price change not yet sent"
        except Exception as error:  # the stock flow's tables in flux must not break the overview
            log.warning("dashboard.stock_lag_unavailable", error=type(error).__name__)
    for name, moved in queries.cursor_moves():
        area = name.split(":", 1)[0].split(".", 1)[0]
        if area not in flows or area == "stock":
            continue
        if moved is None:
            continue
        lag = (now - moved).total_seconds()
        flow = flows[area]
        if flow.lag_seconds is None or lag > flow.lag_seconds:
            flow.lag_seconds = lag
            flow.lag_note = f"cursor {name} last moved"


# --- API usage (this process) --------------------------------------------------------------------


@dataclass(frozen=True)
class ApiUsage:
    api: str
    calls: int
    rate_limited: int

    @property
    def headroom(self) -> str:
        """Plain words: were we told to slow down?"""
        if self.calls == 0:
            return "unused"
        share = self.rate_limited / self.calls
        if share == 0:
            return "plenty"
        if share < 0.05:
            return "tight"
        return "exhausted"


def api_usage() -> list[ApiUsage]:
    """Calls and 429 answers per remote API since this process started (prometheus counters)."""
    calls: dict[str, int] = {}
    limited: dict[str, int] = {}
    for metric in metrics.API_CALLS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                api = sample.labels.get("api", "")
                calls[api] = calls.get(api, 0) + int(sample.value)
    for metric in metrics.API_429.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                api = sample.labels.get("api", "")
                limited[api] = limited.get(api, 0) + int(sample.value)
    return [ApiUsage(api, calls.get(api, 0), limited.get(api, 0)) for api in sorted(set(calls) | set(limited))]


def active_state_values() -> list[str]:
    return [s.value for s in IssueState]


# --- issues shown beside each flow's objects on the console pages -------------------------------


#: An issue record as the console pages get it (the row itself; the pages only read it).
IssueRecordRow: TypeAlias = "IssueRecord"


def issue_record(queries: ConsoleQueries, record_id: int) -> IssueRecord | None:
    return queries.issue_record(record_id)


def open_issues_for(queries: ConsoleQueries, object_ids: list[str]) -> dict[str, list[IssueRecord]]:
    """The active issues of each of these business object ids (ids without any are left out)."""
    if not object_ids:
        return {}
    rows = queries.issues_of_objects(object_ids, issue_service.ACTIVE_STATES)
    found: dict[str, list[IssueRecord]] = {}
    for row in rows:
        found.setdefault(row.object_id, []).append(row)
    return found


def active_issues_of(queries: ConsoleQueries, types: Sequence[IssueType | str], *,
                     limit: int | None = None) -> list[IssueRecord]:
    """Active issues of these types (with ``limit``, the oldest first)."""
    codes = [t if isinstance(t, str) else t.code for t in types]
    if not codes:
        return []
    return list(queries.issues_of_types(codes, issue_service.ACTIVE_STATES, limit=limit))
