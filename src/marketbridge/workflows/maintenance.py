"""Keeping the engine itself healthy.

* ``Heartbeat``: a thread in every worker process writes ``worker_heartbeats`` every few seconds.
* ``sweep_stale_executors``: a schedule that finds workers silent for longer than
  ``stale_executor_seconds`` and resumes their PENDING workflows here, so that on PostgreSQL with
  several workers a dead worker's unfinished work is finished by another. Every step in our
  workflows is idempotent against the remote systems, so a false "dead" verdict costs a repeated
  read, never a duplicate order, shipment or refund.
* When it takes over a worker newly found dead, it runs the start hooks of the flows here too
  (the stock flow's catch-up: the dead worker may have stored webhooks it never handled).
* It also turns workflows that DBOS gave up on (``MAX_RECOVERY_ATTEMPTS_EXCEEDED``) into
  ``workflow_failed`` issue records, so nothing stops silently.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

import structlog
from dbos import DBOS, DBOSClient
from dbos._serialization import DBOSPortableJSONSerializer

from marketbridge.adapters.db import heartbeats
from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.engine_store import prepare_engine_file
from marketbridge.domain.issues import WORKFLOW_FAILED, IssueReport
from marketbridge.runtime import Runtime, get_runtime
from marketbridge.services import issues as issue_service
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 2.0


def beat(runtime: Runtime) -> None:
    heartbeats.record_beat(runtime.db, runtime.settings.executor_id, os.getpid())


class Heartbeat:
    def __init__(self, runtime: Runtime, interval: float = HEARTBEAT_SECONDS) -> None:
        self.runtime = runtime
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        beat(self.runtime)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                beat(self.runtime)
            except Exception as error:  # a missed beat is harmless; the next one retries
                log.warning("heartbeat.failed", error=str(error))

    def stop(self) -> None:
        self._stop.set()


def stale_executors(runtime: Runtime, now: dt.datetime | None = None) -> list[str]:
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=runtime.settings.stale_executor_seconds)
    return [executor for executor, _ in heartbeats.silent_since(runtime.db, cutoff, besides=runtime.settings.executor_id)]


def _client(runtime: Runtime) -> DBOSClient:
    """A DBOS client on the system database: listing and resuming workflows from inside a step
    (the DBOS class methods would record their non-JSON results as steps of our workflow)."""
    client = runtime.extras.get("dbos_client")
    if client is None:
        prepare_engine_file(runtime.workflow_database_url)
        client = DBOSClient(system_database_url=runtime.workflow_database_url, serializer=DBOSPortableJSONSerializer())
        runtime.extras["dbos_client"] = client
    return client


def resume_work_of(runtime: Runtime, executor_ids: list[str]) -> list[str]:
    """Resume every PENDING workflow owned by the given executors; returns their ids."""
    if not executor_ids:
        return []
    client = _client(runtime)
    ids = [w.workflow_id for w in client.list_workflows(status="PENDING", executor_id=executor_ids)]
    if ids:
        client.resume_workflows(ids)
        log.warning("sweeper.resumed", executors=executor_ids, workflows=len(ids))
    return ids


def report_abandoned_workflows(runtime: Runtime) -> int:
    failed = _client(runtime).list_workflows(status="MAX_RECOVERY_ATTEMPTS_EXCEEDED", limit=200)
    with runtime.db.session() as session:
        for workflow in failed:
            issue_service.record(
                session,
                IssueReport(
                    type=WORKFLOW_FAILED,
                    object_id=workflow.workflow_id,
                    message=f"The background job {workflow.name} ({workflow.workflow_id}) failed on every "
                    "retry and has stopped.",
                    detail=str(workflow.error or "")[:2000],
                ),
            )
    return len(failed)


def prune_finished_schedule_runs(runtime: Runtime, now: dt.datetime | None = None, batch: int = 2000) -> int:
    """Delete finished runs of *scheduled* workflows older than the retention.

    Frequent schedules (the stock tick every 2 s, polls every minute) add tens of thousands of
    rows a day to DBOS's tables. Only runs started by a schedule (ids ``sched-...``) are pruned:
    the workflows of business objects keep their rows, because their ids are what makes a
    duplicate start of the same order, shipment or refund collapse into the first one.
    """
    cutoff = (now or utcnow()) - dt.timedelta(hours=runtime.settings.schedule_run_retention_hours)
    client = _client(runtime)
    finished = client.list_workflows(
        status=["SUCCESS", "ERROR", "CANCELLED"],
        workflow_id_prefix="sched-",
        completed_before=cutoff.isoformat(),
        limit=batch,
        load_input=False,
        load_output=False,
    )
    ids = [w.workflow_id for w in finished]
    if ids:
        client.delete_workflows(ids)
    return len(ids)


@DBOS.step(name="maintenance.prune_schedule_runs")
def _prune() -> int:
    return prune_finished_schedule_runs(get_runtime())


@DBOS.step(name="maintenance.resume_stale")
def _resume_stale() -> list[str]:
    runtime = get_runtime()
    return resume_work_of(runtime, stale_executors(runtime))


def newly_dead(runtime: Runtime, now: dt.datetime | None = None) -> list[str]:
    """Stale executors not yet taken over by this process (a dead worker's heartbeat row stays,
    so each sweep finds it again; its last beat tells one death from the next)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=runtime.settings.stale_executor_seconds)
    seen = runtime.extras.setdefault("taken_over", {})
    rows = heartbeats.silent_since(runtime.db, cutoff, besides=runtime.settings.executor_id)
    fresh = [executor for executor, seen_at in rows if seen.get(executor) != seen_at]
    seen.update(dict(rows))
    return sorted(fresh)


@DBOS.step(name="maintenance.newly_dead")
def _newly_dead() -> list[str]:
    return newly_dead(get_runtime())


@DBOS.step(name="maintenance.report_abandoned")
def _report_abandoned() -> int:
    return report_abandoned_workflows(get_runtime())


@flow_workflow(name="maintenance.sweep")
def sweep_stale_executors(scheduled_time: Any, context: Any) -> None:
    _resume_stale()
    dead = _newly_dead()
    if dead:
        from marketbridge.workflows import engine

        log.warning("sweeper.took_over", executors=dead)
        engine.run_start_hooks(get_runtime())
    _report_abandoned()
    _prune()


def schedules(settings: Settings) -> list[dict[str, Any]]:
    return [{"schedule_name": "maintenance.sweep", "workflow_fn": sweep_stale_executors, "schedule": settings.sweeper_cron}]
