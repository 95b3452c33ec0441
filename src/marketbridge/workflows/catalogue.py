"""DBOS workflows of the catalogue flow: thin durable shells around marketbridge.services.

* ``catalogue.publish_pass`` (schedule ``catalogue_publish_cron``): find new Magento products,
  validate them, follow the imports in flight and send what waits. Each pass is idempotent: the
  listing table records what was sent, and the call-frequency checks stop a repeated pass from
  sending the same import twice within its interval.
* ``catalogue.audit`` (schedule ``audit_cron`` in ``timezone``, default 02:00 Europe/London): the
  full audit, the same service as ``marketbridge audit``; with ``audit_fix_on_schedule`` it fixes.

The steps record JSON (the portable serializer): the typed results' ``as_dict()`` /
``model_dump(mode="json")``, the same JSON as before the services returned typed results.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from marketbridge.runtime import get_runtime
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

QUEUES: list[dict[str, Any]] = []


@DBOS.step(name="catalogue.publish_pass_step")
def _publish_pass_step() -> dict[str, Any]:
    from marketbridge.services import catalogue

    return catalogue.run_scheduled_pass(get_runtime()).as_dict()


@flow_workflow(name="catalogue.publish_pass")
def scheduled_publish_pass(scheduled_time: Any, context: Any) -> dict[str, Any]:
    return _publish_pass_step()


@DBOS.step(name="catalogue.audit_step")
def _audit_step(fix: bool, trigger: str) -> dict[str, Any]:
    from marketbridge.services import audit

    return audit.run_audit(get_runtime(), fix=fix, trigger=trigger).summary().model_dump(mode="json")


@flow_workflow(name="catalogue.audit")
def audit_workflow(fix: bool = False, trigger: str = "api") -> dict[str, Any]:
    return _audit_step(fix, trigger)


def start_audit(fix: bool, trigger: str) -> str:
    """Start :func:`audit_workflow` in the background (the engine runs in this process)."""
    return DBOS.start_workflow(audit_workflow, fix, trigger).workflow_id


@flow_workflow(name="catalogue.scheduled_audit")
def scheduled_audit(scheduled_time: Any, context: Any) -> dict[str, Any]:
    return _audit_step(get_runtime().settings.audit_fix_on_schedule, "schedule")


def schedules(settings: Settings) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    if settings.catalogue_publish_enabled:
        entries.append({"schedule_name": "catalogue.publish_pass", "workflow_fn": scheduled_publish_pass,
                        "schedule": settings.catalogue_publish_cron})
    if settings.audit_enabled:
        entries.append({"schedule_name": "catalogue.audit", "workflow_fn": scheduled_audit,
                        "schedule": settings.audit_cron, "cron_timezone": settings.timezone})
    return entries
