"""DBOS workflows of the shipments flow: thin durable shells around marketbridge.services.shipments.

* ``shipments.send`` (id ``shipment:<magento shipment id>``, then ``shipment:<id>:<generation>``
  for each later release): prepare (re-read Magento, match the carrier), then send (read the
  marketplace order first, then OR23+OR24 or ST01). A new generation is opened only when something
  changed (a mapping was added, a track appeared), so duplicate triggers collapse onto one run.
* ``shipments.poll`` (schedule): new Magento shipments by entity-id cursor, tracks added later to
  recent unconfirmed shipments, with the order feed on the confirmations its reads allow (the
  backstop of its messages), and a backstop that starts sends for every row that is due.
* ``shipments.watch`` (schedule): shipping-deadline and unconfirmed-shipment issues.
* ``shipments.refresh_carriers`` (schedule, daily): the SH21 list.

The service returns typed results (``Decision``, ``SendResult``, ``WatchCounts``); the steps return
their ``as_json()``, because the engine records step outputs with the portable JSON serializer
(see ``workflows.engine``), and the same dicts are the workflows' results that the CLI prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from dbos import DBOS, SetEnqueueOptions, SetWorkflowID
from dbos._error import DBOSQueueDeduplicatedError

from marketbridge.adapters.db.errors import is_transient
from marketbridge.adapters.db.session import after_commit
from marketbridge.adapters.errors import NotFound, RateLimited, TransientError
from marketbridge.ports.webhooks import DispatchSession
from marketbridge.runtime import Runtime, get_runtime
from marketbridge.services import shipments as shipment_service
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

log = structlog.get_logger(__name__)

QUEUE_NAME = "shipments"
#: Sends are partitioned by shipment id with one at a time per partition: two generations of the
#: same shipment never run side by side (which could create two ST01 shipments).
SEND_QUEUE = "shipments.send"
QUEUES: list[dict[str, Any]] = [
    {"name": QUEUE_NAME, "worker_concurrency": 4, "polling_interval_sec": 0.5},
    {"name": SEND_QUEUE, "worker_concurrency": 4, "partition_concurrency": 1, "polling_interval_sec": 0.5},
]
SEND_WORKFLOW = "shipments.send"


def workflow_id(shipment_id: int, generation: int) -> str:
    return f"shipment:{shipment_id}" if generation <= 1 else f"shipment:{shipment_id}:{generation}"


def _enqueue_send(shipment_id: int, generation: int) -> str:
    """Enqueue one send from inside the engine (a request thread or a workflow)."""
    wid = workflow_id(shipment_id, generation)
    with SetWorkflowID(wid), SetEnqueueOptions(queue_partition_key=str(shipment_id)):
        DBOS.enqueue_workflow(SEND_QUEUE, send_shipment, shipment_id)
    return wid


def _transient(error: BaseException) -> bool:
    """A remote failure worth another try, or our own database refusing for a moment ("database is
    locked" on SQLite, a dropped PostgreSQL connection, no pool connection free in time). The
    database cases were not retried: a send then ended in ERROR under its deterministic workflow id,
    which the poll's later enqueues return as it is, and the full soak left eleven shipments unsent
    for good after one 30-second stall. The shipments flow's store does not translate storage errors,
    so ours arrive as SQLAlchemy's: ``adapters.db.errors.is_transient`` knows them."""
    return isinstance(error, TransientError) or is_transient(error)


@DBOS.step(name="shipments.prepare", retries_allowed=True, max_attempts=4, interval_seconds=1.0, backoff_rate=2.0,
           should_retry=_transient)
def _prepare(shipment_id: int) -> dict[str, Any]:
    return shipment_service.prepare(get_runtime(), shipment_id).as_json()


@DBOS.step(name="shipments.send_step", retries_allowed=True, max_attempts=4, interval_seconds=1.0, backoff_rate=2.0,
           should_retry=_transient)
def _send(shipment_id: int) -> dict[str, Any]:
    return shipment_service.send(get_runtime(), shipment_id).as_json()


@DBOS.step(name="shipments.note_failure", retries_allowed=True, max_attempts=6, interval_seconds=2.0, backoff_rate=2.0,
           should_retry=_transient)
def _note_failure(shipment_id: int, error: str) -> None:
    # Tried for about a minute: this step moves the shipment to a new generation, so the next poll
    # starts a send under a new workflow id; if it failed too the shipment would wait for good.
    shipment_service.note_failure(get_runtime(), shipment_id, error)


@flow_workflow(name=SEND_WORKFLOW)
def send_shipment(shipment_id: int) -> dict[str, Any]:
    """Prepare, then send. The result is JSON (the CLI's ``shipments sync`` prints it): the
    decision when it did not send, else how the send ended."""
    try:
        decision = _prepare(shipment_id)
        if decision["action"] != "send":
            return decision
        return _send(shipment_id)
    except Exception as error:  # transient failures that outlived the step retries
        limited = _rate_limited(error)
        if limited is not None:  # the API was not due: a deferral, said as one; the next poll sends
            log.info("shipments.deferred", shipment_id=shipment_id, api=limited.api, retry_after=limited.retry_after)
            _note_failure(shipment_id, f"deferred: {limited.api} not due yet ({limited}); the next poll sends it")
            return {"state": "ready", "deferred": limited.api, "error": str(limited)[:500]}
        _note_failure(shipment_id, f"{type(error).__name__}: {error}")
        return {"state": "ready", "error": str(error)[:500]}


def _rate_limited(error: BaseException) -> RateLimited | None:
    """The ``RateLimited`` behind a step's failure (DBOS wraps the last attempts' errors)."""
    if isinstance(error, RateLimited):
        return error
    for inner in reversed(getattr(error, "errors", None) or []):
        if isinstance(inner, RateLimited):
            return inner
    return None


def start_sends(runtime: Runtime, due: Iterable[tuple[int, int]]) -> list[str]:
    """Enqueue one send per (shipment id, generation). Works in the engine process (and inside a
    workflow) and, through a DBOS client, from a process without the engine (the CLI)."""
    from marketbridge.workflows import engine

    ids: list[str] = []
    items = list(due)
    if not items:
        return ids
    if engine.is_launched() and DBOS.step_id is None:
        return [_enqueue_send(shipment_id, generation) for shipment_id, generation in items]
    # without the engine here, or inside a step (DBOS starts no workflow from a step: the order
    # feed's dispatch step publishes the changes whose handler starts sends), through the client
    client = runtime.engine.client()
    for shipment_id, generation in items:
        wid = workflow_id(shipment_id, generation)
        client.enqueue({"workflow_name": SEND_WORKFLOW, "queue_name": SEND_QUEUE, "workflow_id": wid,
                        "queue_partition_key": str(shipment_id), "app_version": runtime.settings.application_version},
                       shipment_id)
        ids.append(wid)
    return ids


# ------------------------------------------------------------------ webhook hints
DETECT_WORKFLOW = "shipments.detect"


@DBOS.step(name="shipments.detect_step", retries_allowed=True, max_attempts=4, interval_seconds=1.0, backoff_rate=2.0,
           should_retry=_transient)
def _detect(shipment_id: int) -> list[list[int]]:
    runtime = get_runtime()
    try:
        due = shipment_service.detect_shipment(runtime, shipment_id)
    except NotFound:
        return []  # deleted since, or not visible to our integration: nothing to send
    if due is None:
        return []
    return [[i, g] for i, g in shipment_service.due_for_send(runtime) if i == due]


@flow_workflow(name=DETECT_WORKFLOW)
def detect_shipment(shipment_id: int) -> int:
    """A webhook said this shipment (or one of its tracks) was saved: re-read it, record it, send."""
    due = _detect(shipment_id)
    for shipment_id_, generation in due:
        _enqueue_send(shipment_id_, generation)
    return len(due)


def _shipment_id_of(event_name: str, data: dict) -> int | None:
    """``observer.sales_order_shipment_save_after`` carries ``{"shipment": {...}}``; the track event
    carries ``{"track": {"parent_id": <shipment id>, ...}}``."""
    if "track" in event_name:
        track = data.get("track") if isinstance(data.get("track"), dict) else data
        value = track.get("parent_id") if isinstance(track, dict) else None
    else:
        shipment = data.get("shipment") if isinstance(data.get("shipment"), dict) else data
        value = shipment.get("entity_id") if isinstance(shipment, dict) else None
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def on_shipment_event(session: DispatchSession, event_name: str, data: dict) -> None:
    """Webhook handler: enqueue a detect run in the same transaction that marks the event handled
    (outbox) where the engine shares our database, so a crash can neither lose the hint nor act on
    an event that was rolled back; on SQLite the engine has its own file (see below).
    Without a running engine in this process nothing is enqueued: the poll finds the shipment."""
    shipment_id = _shipment_id_of(event_name, data)
    if shipment_id is None:
        log.warning("shipments.webhook_without_id", event_name=event_name)
        return
    try:
        runtime = get_runtime()
    except RuntimeError:
        return
    options: Any = {"workflow_name": DETECT_WORKFLOW, "queue_name": QUEUE_NAME,
                    "app_version": runtime.settings.application_version,
                    "deduplication_id": f"shipment-hint:{shipment_id}"}
    if runtime.workflow_database_url != runtime.settings.database_url:
        # The engine keeps its records in a file of its own (SQLite, adapters.db.engine_store).
        # Enqueued there once ours has committed: never while we hold our file's write lock, which
        # would make every other writer wait for the engine's file too (the full soak ran out of
        # pool connections for 30 s). A rollback enqueues nothing; if we die between the commit
        # and the enqueue, the shipments poll finds the shipment.
        after_commit(session, lambda: _enqueue_detect(runtime, options, shipment_id))
        return
    try:
        with session.begin_nested():
            runtime.engine.client().enqueue_in_transaction(session, options, shipment_id)
    except DBOSQueueDeduplicatedError:
        pass  # a detect run for this shipment is already queued; it will read the latest state


def _enqueue_detect(runtime: Runtime, options: Any, shipment_id: int) -> None:
    try:
        runtime.engine.client().enqueue(options, shipment_id)
    except DBOSQueueDeduplicatedError:
        pass  # a detect run for this shipment is already queued; it will read the latest state
    except Exception as error:  # noqa: BLE001 - after our commit: the poll finds the shipment
        log.warning("shipments.hint_not_enqueued", shipment_id=shipment_id, error=str(error)[:300])


#: Event-name prefixes of :func:`on_shipment_event` (bootstrap adds it to the webhook table).


# ------------------------------------------------------------------ schedules
@DBOS.step(name="shipments.poll_step")
def _poll() -> list[list[int]]:
    runtime = get_runtime()
    shipment_service.poll_new_shipments(runtime)
    shipment_service.recheck_tracks(runtime)
    shipment_service.release_waiting(runtime)
    shipment_service.confirm_from_feed(runtime)  # the backstop of the feed's messages (a no-op with it off)
    return [[i, g] for i, g in shipment_service.due_for_send(runtime)]


@flow_workflow(name="shipments.poll")
def poll_shipments(scheduled_time: Any, context: Any) -> int:
    due = _poll()
    for shipment_id, generation in due:
        _enqueue_send(shipment_id, generation)
    return len(due)


@DBOS.step(name="shipments.watch_step")
def _watch() -> dict[str, int]:
    return shipment_service.watch(get_runtime()).as_json()


@flow_workflow(name="shipments.watch")
def watch_shipments(scheduled_time: Any, context: Any) -> dict[str, int]:
    return _watch()


@DBOS.step(name="shipments.refresh_carriers_step", retries_allowed=True, max_attempts=3, interval_seconds=5.0,
           should_retry=_transient)
def _refresh() -> int:
    return shipment_service.refresh_carriers(get_runtime())


@flow_workflow(name="shipments.refresh_carriers")
def refresh_carriers(scheduled_time: Any, context: Any) -> int:
    return _refresh()


def schedules(settings: Settings) -> list[dict[str, Any]]:
    return [
        {"schedule_name": "shipments.poll", "workflow_fn": poll_shipments, "schedule": settings.shipment_poll_cron},
        {"schedule_name": "shipments.watch", "workflow_fn": watch_shipments, "schedule": settings.shipment_watch_cron},
        {"schedule_name": "shipments.refresh_carriers", "workflow_fn": refresh_carriers,
         "schedule": settings.carrier_refresh_cron},
    ]
