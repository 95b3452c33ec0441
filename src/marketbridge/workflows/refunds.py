"""DBOS workflows of the refunds flow: thin durable shells around :mod:`marketbridge.services.refunds`.

* ``refunds.poll`` (schedule ``refund_poll_cron``): records credit memos created since the entity-id
  cursor (webhook deliveries are recorded by the webhook handler), then enqueues one
  ``refunds.process_creditmemo`` per unfinished memo under ``creditmemo:<id>`` (a restart after a
  stall gets ``creditmemo:<id>:r<n>``), so a webhook and a poll for the same memo collapse.
* ``refunds.process_creditmemo``: prepare (compute or hold), then send OR28. With the order feed on,
  prepare may answer ``wait`` until the feed has read the marketplace since the memo was made: the
  workflow sleeps until the feed's next read (up to ``FEED_WAITS`` times, then plans on OR11 by id). A send whose outcome is
  unknown is retried after a durable sleep (5, 10, 20 ... s) and each retry first re-reads the
  order to adopt a refund that already happened: never doubled.
* ``refunds.follow`` (schedule ``refund_follow_cron``): follows our refunds to REFUNDED and records
  refunds that started on the marketplace. With the order feed on, a ``refunded`` change the feed
  publishes also enqueues one (:func:`trigger_follow`); the schedule is then the backstop.
* ``refunds.reasons`` (schedule ``refund_reasons_cron``): refreshes the RE01 cache daily.

The steps record the JSON of the services' typed results (``MemoOutcome.as_json()`` and so on),
the same values they recorded before those types existed: a workflow recovered after an upgrade
replays the outputs its earlier steps recorded, and the workflow results stay what the CLI prints.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dbos import DBOS, SetWorkflowID

from marketbridge.adapters.db.base import utcnow
from marketbridge.runtime import get_runtime
from marketbridge.services import refunds as refund_service
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime

QUEUE = "refunds"
SEND_ATTEMPTS = 6
#: Waits for the order feed's next read before planning on OR11 by id after all (a stalled feed).
FEED_WAITS = 6

QUEUES: list[dict[str, Any]] = [{"name": QUEUE, "worker_concurrency": 2, "polling_interval_sec": 0.5}]


# ------------------------------------------------------------------ steps
@DBOS.step(name="refunds.poll_creditmemos", retries_allowed=True, max_attempts=3, interval_seconds=2.0)
def poll_step() -> list[int]:
    return refund_service.poll_creditmemos(get_runtime())


@DBOS.step(name="refunds.pending")
def pending_step() -> list[dict[str, Any]]:
    return [asdict(memo) for memo in refund_service.pending_creditmemos(get_runtime())]


@DBOS.step(name="refunds.prepare", retries_allowed=True, max_attempts=4, interval_seconds=2.0)
def prepare_step(creditmemo_id: int, live: bool = False) -> dict[str, Any]:
    return refund_service.prepare(get_runtime(), creditmemo_id, live=live).as_json()


@DBOS.step(name="refunds.send")
def send_step(creditmemo_id: int) -> dict[str, Any]:
    return refund_service.send(get_runtime(), creditmemo_id).as_json()


@DBOS.step(name="refunds.report_delayed")
def report_delayed_step(creditmemo_id: int, error: str) -> None:
    refund_service.report_delayed(get_runtime(), creditmemo_id, error)


@DBOS.step(name="refunds.retry_delay")
def retry_delay_step() -> float:
    return float(get_runtime().settings.refund_retry_seconds)


@DBOS.step(name="refunds.follow", retries_allowed=True, max_attempts=3, interval_seconds=5.0)
def follow_step() -> dict[str, int]:
    return refund_service.follow(get_runtime()).as_json()


@DBOS.step(name="refunds.refresh_reasons", retries_allowed=True, max_attempts=3, interval_seconds=10.0)
def reasons_step() -> int:
    return refund_service.refresh_reasons(get_runtime())


# ------------------------------------------------------------------ workflows
@flow_workflow(name="refunds.process_creditmemo")
def process_workflow(creditmemo_id: int) -> dict[str, Any]:
    prepared = prepare_step(creditmemo_id)
    waits = 0
    while prepared["status"] == refund_service.WAIT:  # the order feed has not read since the memo
        waits += 1
        DBOS.sleep(max(1.0, float(prepared.get("retry_after") or 0)))
        prepared = prepare_step(creditmemo_id, live=waits >= FEED_WAITS)
    if prepared["status"] not in (refund_service.PLANNED, refund_service.SENDING):
        return prepared
    delay = retry_delay_step()
    result: dict[str, Any] = {}
    for attempt in range(SEND_ATTEMPTS):
        result = send_step(creditmemo_id)
        if result["status"] != "retry":
            return result
        if attempt == 2:
            report_delayed_step(creditmemo_id, str(result.get("error", "")))
        DBOS.sleep(max(delay, float(result.get("retry_after") or 0)))
        delay = min(delay * 2, 300.0)
    report_delayed_step(creditmemo_id, str(result.get("error", "")))
    return result


def enqueue(creditmemo_id: int, workflow_id: str) -> str:
    with SetWorkflowID(workflow_id):
        handle = DBOS.enqueue_workflow(QUEUE, process_workflow, creditmemo_id)
    return handle.workflow_id


@flow_workflow(name="refunds.poll")
def poll_workflow(scheduled_time: Any = None, context: Any = None) -> dict[str, Any]:
    new_ids = poll_step()
    pending = pending_step()
    for item in pending:
        enqueue(item["creditmemo_id"], item["workflow_id"])
    return {"new": len(new_ids), "enqueued": len(pending)}


@flow_workflow(name="refunds.follow")
def follow_workflow(scheduled_time: Any = None, context: Any = None) -> dict[str, int]:
    return follow_step()


#: Refund changes the feed publishes within this many seconds start one follow between them.
FOLLOW_COALESCE_SECONDS = 10


def trigger_follow(runtime: Runtime, now: float | None = None) -> str:
    """Enqueue a follow now (the order feed saw a refund change: confirm ours, record theirs)
    instead of waiting for ``refund_follow_cron``. Called from the feed's dispatch step, where DBOS
    starts no workflow, so through the client; the id names a ``FOLLOW_COALESCE_SECONDS`` window,
    so a read that found many refunds enqueues one follow, and a repeat is a no-op."""
    window = int((time.time() if now is None else now) // FOLLOW_COALESCE_SECONDS)
    wid = f"refunds.follow:feed:{window}"
    runtime.engine.client().enqueue({"workflow_name": "refunds.follow", "queue_name": QUEUE, "workflow_id": wid,
                                     "app_version": runtime.settings.application_version})
    return wid


@flow_workflow(name="refunds.reasons")
def reasons_workflow(scheduled_time: Any = None, context: Any = None) -> int:
    return reasons_step()


def schedules(settings: Settings) -> list[dict[str, Any]]:
    if not settings.refund_sync_enabled:
        return []
    return [
        {"schedule_name": "refunds.poll", "workflow_fn": poll_workflow, "schedule": settings.refund_poll_cron},
        {"schedule_name": "refunds.follow", "workflow_fn": follow_workflow, "schedule": settings.refund_follow_cron},
        {"schedule_name": "refunds.reasons", "workflow_fn": reasons_workflow, "schedule": settings.refund_reasons_cron},
    ]


def start_processing(creditmemo_id: int) -> dict[str, Any]:
    """Run one memo now (CLI ``refunds process`` with the engine launched) and wait for it."""
    with SetWorkflowID(f"creditmemo:{creditmemo_id}:manual:{utcnow().timestamp():.0f}"):
        handle = DBOS.start_workflow(process_workflow, creditmemo_id)
    return handle.get_result()
