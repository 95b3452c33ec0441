"""DBOS workflows of the console: the alert schedules (thin shells around services.alerts).

* ``console.alerts_urgent`` on ``alert_check_cron`` (every minute by default): critical issues
  go out at once, each at most once per ``alert_repeat_hours``.
* ``console.alerts_digest`` on ``alert_digest_cron`` (08:00 UTC by default): the daily digest.

Runs may overlap (the check runs often; a send can be slow): ``services.alerts`` claims each
record (stamps ``alerted_at`` and commits) before sending, so an alert goes out once. A recovered
step after a crash finds the records already claimed and does not send them again; the daily
digest still lists every open problem.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from marketbridge.adapters.notify.apprise_notifier import AppriseNotifier
from marketbridge.runtime import get_runtime
from marketbridge.services import alerts
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

QUEUES: list[dict[str, Any]] = []


def _summary(run: alerts.AlertRun) -> dict[str, Any]:
    return {"sent": run.sent, "skipped_no_url": run.skipped_no_url, "failed": run.failed}


@DBOS.step(name="console.send_urgent")
def send_urgent_step() -> dict[str, Any]:
    runtime = get_runtime()
    with runtime.alerts_store.unit_of_work() as repo:
        return _summary(alerts.send_urgent(repo, AppriseNotifier(), runtime.settings))


@DBOS.step(name="console.send_digest")
def send_digest_step() -> dict[str, Any]:
    runtime = get_runtime()
    with runtime.alerts_store.unit_of_work() as repo:
        return _summary(alerts.send_digest(repo, AppriseNotifier(), runtime.settings))


@flow_workflow(name="console.alerts_urgent")
def alerts_urgent(scheduled_time: Any, context: Any) -> dict[str, Any]:
    return send_urgent_step()


@flow_workflow(name="console.alerts_digest")
def alerts_digest(scheduled_time: Any, context: Any) -> dict[str, Any]:
    return send_digest_step()


def schedules(settings: Settings) -> list[dict[str, Any]]:
    return [
        {"schedule_name": "console.alerts_urgent", "workflow_fn": alerts_urgent, "schedule": settings.alert_check_cron},
        {"schedule_name": "console.alerts_digest", "workflow_fn": alerts_digest, "schedule": settings.alert_digest_cron},
    ]
