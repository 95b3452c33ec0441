"""Alerts to the teams: urgent problems at once, everything else in a daily digest.

* :func:`send_urgent` (every minute by default): each *critical* open issue that has not been
  alerted yet goes to its owning team's URLs, one message per team per run listing them all.
  ``alerted_at`` is stamped on each record sent, so a problem that keeps happening (the flow
  calling ``record`` again and again) never alerts twice; the same problem on the same object
  alerts again at most once per ``alert_repeat_hours`` — also when it was resolved and came back
  (a flapping connection), because the window is checked across records of the same type and object.
  A team without URLs is skipped and nothing is stamped, so configuring URLs later sends the backlog.
  Each record is *claimed* (stamped and committed) before the send, so overlapping runs or several
  workers never send the same alert twice; a failed delivery gives the claim back and the next run
  tries again. (A crash between claim and send loses that one alert; the daily digest still lists it.)
* :func:`send_digest` (daily): per team, what is still open by type (warnings and info, and the
  urgent ones still open), what is new since yesterday, and the oldest open problem.

The issue records are read and stamped through :class:`marketbridge.ports.AlertsRepository`
(``runtime.alerts_store``; the SQL is in :mod:`marketbridge.adapters.db.alerts`); the rules above
stay here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.notify.apprise_notifier import Notifier, split_urls
from marketbridge.domain.issues import Severity, Team
from marketbridge.ports.alerts import AlertsRepository
from marketbridge.services import issues as issue_service
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.core import IssueRecord

log = structlog.get_logger(__name__)

TEAM_NAMES = {
    Team.ECOMMERCE.value: "Ecommerce",
    Team.OPS.value: "Ops",
    Team.FINANCE.value: "Finance",
    Team.CUSTOMER_SERVICE.value: "Customer Service",
}
MAX_LISTED = 20


def team_urls(settings: Settings, team: str) -> list[str]:
    secret = getattr(settings, f"alert_urls_{team}", None)
    return split_urls(secret.get_secret_value() if secret is not None else None)


@dataclass
class AlertRun:
    """What one run did, per team (for logs, the CLI and tests)."""

    sent: dict[str, int] = field(default_factory=dict)
    skipped_no_url: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)


def _link(settings: Settings, record_id: int | None = None) -> str:
    base = settings.console_url.rstrip("/")
    if not base:
        return ""
    return f"{base}/exceptions/{record_id}" if record_id is not None else f"{base}/exceptions"


def urgent_message(team: str, records: list[IssueRecord], settings: Settings) -> tuple[str, str]:
    name = TEAM_NAMES.get(team, team)
    if len(records) == 1:
        title = f"marketbridge: urgent problem for {name}"
    else:
        title = f"marketbridge: {len(records)} urgent problems for {name}"
    lines = []
    for record in records[:MAX_LISTED]:
        lines.append(f"- {record.message}")
        if record.suggested_action:
            lines.append(f"  What to do: {record.suggested_action}")
        link = _link(settings, record.id)
        if link:
            lines.append(f"  {link}")
    if len(records) > MAX_LISTED:
        lines.append(f"... and {len(records) - MAX_LISTED} more: {_link(settings) or 'see the console'}")
    return title, "\n".join(lines)


def send_urgent(alerts: AlertsRepository, notifier: Notifier, settings: Settings,
                now: dt.datetime | None = None) -> AlertRun:
    """Alert each team about its critical open issues not alerted yet (see the module doc)."""
    now = now or utcnow()
    window_start = now - dt.timedelta(hours=settings.alert_repeat_hours)
    candidates = alerts.urgent_candidates(states=issue_service.ACTIVE_STATES,
                                          severity=Severity.CRITICAL.value, alerted_before=window_start)
    by_team: dict[str, list[IssueRecord]] = defaultdict(list)
    for record in candidates:
        # Was the same problem on the same object (any record, e.g. an earlier resolved one) alerted lately?
        if alerts.alerted_elsewhere_since(record, window_start):
            record.alerted_at = now  # the same problem was just alerted under an earlier record
            continue
        by_team[record.owner].append(record)
    run = AlertRun()
    for team, records in by_team.items():
        urls = team_urls(settings, team)
        if not urls:
            run.skipped_no_url[team] = len(records)
            continue
        claimed = _claim(alerts, records, now, window_start)
        if not claimed:
            continue
        title, body = urgent_message(team, [r for r, _ in claimed], settings)
        if notifier.send(urls, title, body, urgent=True):
            run.sent[team] = len(claimed)
            log.info("alert.urgent_sent", team=team, records=len(claimed))
        else:
            for record, previous in claimed:  # give the claim back: the next run tries again
                record.alerted_at = previous
            run.failed[team] = len(claimed)
            log.warning("alert.urgent_failed", team=team, records=len(claimed))
    alerts.flush()
    return run


def _claim(alerts: AlertsRepository, records: list[IssueRecord], now: dt.datetime,
           window_start: dt.datetime) -> list[tuple[IssueRecord, dt.datetime | None]]:
    """Stamp ``alerted_at`` on the records no other run has stamped meanwhile, and commit at once.

    Runs of the schedule can overlap (a slow send, several workers): the conditional UPDATE lets
    exactly one run claim each record before anything is sent, so two runs never send the same
    alert. Returns the claimed records with their previous stamp (to give them back on failure).
    """
    previous = {id(record): record.alerted_at for record in records}
    claimed = alerts.claim(records, now, alerted_before=window_start)
    return [(record, previous[id(record)]) for record in claimed]


@dataclass(frozen=True)
class TeamDigest:
    team: str
    open_by_type: dict[str, int]
    new_today: int
    urgent_open: int
    oldest: IssueRecord | None

    @property
    def total(self) -> int:
        return sum(self.open_by_type.values())


def team_digest(alerts: AlertsRepository, team: str, now: dt.datetime) -> TeamDigest:
    records = alerts.open_records_of(team, issue_service.ACTIVE_STATES)
    counts = Counter(r.type for r in records)
    since = now - dt.timedelta(days=1)
    return TeamDigest(
        team=team,
        open_by_type=dict(counts.most_common()),
        new_today=sum(1 for r in records if r.first_seen >= since),
        urgent_open=sum(1 for r in records if r.severity == Severity.CRITICAL.value),
        oldest=records[0] if records else None,
    )


def digest_message(digest: TeamDigest, settings: Settings, now: dt.datetime) -> tuple[str, str]:
    from marketbridge.domain.catalog import all_issue_types

    types = all_issue_types()
    name = TEAM_NAMES.get(digest.team, digest.team)
    title = f"marketbridge daily digest for {name}: {digest.total} open"
    if digest.total == 0:
        return title, "Nothing is waiting for your team. All clear."
    lines = [f"{digest.total} problems are waiting for {name} ({digest.new_today} new in the last 24 hours"
             + (f", {digest.urgent_open} urgent" if digest.urgent_open else "") + ")."]
    for code, count in digest.open_by_type.items():
        label = types[code].title if code in types else code
        lines.append(f"- {count} × {label}")
    if digest.oldest is not None:
        age = now - digest.oldest.first_seen
        days = age.days
        lines.append(f"Oldest: {digest.oldest.message} (open {days} day{'s' if days != 1 else ''}"
                     f"{'' if days else ', since ' + digest.oldest.first_seen.strftime('%H:%M UTC')}).")
    link = _link(settings)
    if link:
        lines.append(f"Open the console: {link}?team={digest.team}")
    return title, "\n".join(lines)


def send_digest(alerts: AlertsRepository, notifier: Notifier, settings: Settings,
                now: dt.datetime | None = None, *, include_empty: bool = False) -> AlertRun:
    """One digest message per team that has URLs (and, unless ``include_empty``, open problems)."""
    now = now or utcnow()
    run = AlertRun()
    for team in Team:
        digest = team_digest(alerts, team.value, now)
        if digest.total == 0 and not include_empty:
            continue
        urls = team_urls(settings, team.value)
        if not urls:
            run.skipped_no_url[team.value] = digest.total
            continue
        title, body = digest_message(digest, settings, now)
        if notifier.send(urls, title, body, urgent=False):
            run.sent[team.value] = digest.total
        else:
            run.failed[team.value] = digest.total
    log.info("alert.digest", sent=run.sent, skipped=run.skipped_no_url, failed=run.failed)
    return run
