"""DBOS workflows of the stock and price flow: thin durable shells around the stock services
(``services.stock.refresh``, ``.poll`` and ``.push``).

* ``stock.refresh`` (schedule ``stock_push_cron``, and started at once by the webhook receiver):
  re-read hinted SKUs from Adobe Commerce into the outbox (one at a time per process), then claim.
* ``stock.tick`` (schedule ``stock_push_cron``, every 2 s by default): for each import
  API claim the batch in flight or a new one (when the last upload is a minute old) and start its
  ``stock.push_batch`` workflow under the deterministic id ``stock-push-<batch id>``. Starting an
  existing id is a no-op, so a tick that dies between claiming and starting is repaired by the
  next tick, and a batch is never pushed by two workflows.
* ``stock.push_batch(batch_id)``: step ``upload`` (sends the file once; the import id is
  checkpointed in ``sync_batches`` and in the step result) then step ``follow`` (poll the import
  status, read the error report, write per-SKU results, free the lane). A kill -9 anywhere resumes
  from the last finished step; the batch's values stay "in flight" meanwhile and changes made
  during that time wait in the outbox for the next window.
* ``stock.poll`` (schedule ``stock_poll_cron``, every 5 minutes): the fallback that diffs source
  items and reads recent orders and products, for the changes webhooks missed.
* ``stock.catch_up`` (started by :func:`at_start` when the engine launches, and by the sweeper
  when this worker takes over a dead one's work): dispatch stored events, diff source items and
  read the cursors at once, then claim, so a change made while nobody listened leaves within the
  next windows instead of waiting for the poll (see :func:`stock_poll.catch_up`).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import structlog
from dbos import DBOS, SetWorkflowID

from marketbridge.runtime import get_runtime
from marketbridge.services.stock import outbox
from marketbridge.services.stock import poll as stock_poll
from marketbridge.services.stock import push as stock_push
from marketbridge.services.stock import refresh as stock_refresh
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

log = structlog.get_logger(__name__)

QUEUES: list[dict[str, Any]] = []


@DBOS.step(name="stock.refresh")
def _refresh() -> dict[str, Any]:
    """Ticks overlap (schedule + webhook triggers); the service runs one refresh at a time per
    process, the others go straight to claiming (see :func:`stock_refresh.refresh`)."""
    result = stock_refresh.refresh(get_runtime())
    return {"hints": result.hints, "stock": result.applied.stock_enqueued, "price": result.applied.price_enqueued}


@DBOS.step(name="stock.claim")
def _claim() -> list[int]:
    return stock_push.claim_all(get_runtime())


@DBOS.step(name="stock.upload")
def _upload(batch_id: int) -> dict[str, Any]:
    return stock_push.upload(get_runtime(), batch_id, outbox.batch_workflow_id(batch_id)).as_dict()


@DBOS.step(name="stock.follow")
def _follow(batch_id: int) -> dict[str, Any]:
    return stock_push.follow(get_runtime(), batch_id, outbox.batch_workflow_id(batch_id)).as_dict()


@DBOS.step(name="stock.release")
def _release(batch_id: int, reason: str) -> int:
    return stock_push.release_stale(get_runtime(), batch_id, reason)


@flow_workflow(name="stock.push_batch")
def push_batch(batch_id: int) -> dict[str, Any]:
    try:
        sent = _upload(batch_id)
        if sent.get("state") not in ("sent",):
            return sent
        return {**sent, **_follow(batch_id)}
    except Exception as error:  # any unexpected failure: give the values back, never lose them
        log.error("stock.push_batch_failed", batch_id=batch_id, error=str(error)[:300])
        _release(batch_id, f"push workflow failed: {error}"[:2000])
        raise


def _start_batches(batch_ids: list[int]) -> None:
    for batch_id in batch_ids:
        with SetWorkflowID(outbox.batch_workflow_id(batch_id)):
            DBOS.start_workflow(push_batch, batch_id)


WINDOW_WAIT_MAX_SECONDS = 3.0  # about one tick period (stock_push_cron: every 2 s)


@DBOS.step(name="stock.window_wait")
def _window_wait() -> float | None:
    return stock_push.seconds_to_window(get_runtime())


@flow_workflow(name="stock.tick")
def push_tick(scheduled_time: Any = None, context: Any = None) -> dict[str, Any]:
    """Claim and start batches only: never waits behind a long Magento read. When a lane's
    window opens before the next tick, wait for it: a batch then leaves on the dot, and a change
    waits at most one import interval (not one interval plus one tick)."""
    batch_ids = _claim()
    if not batch_ids:
        wait = _window_wait()
        if wait is not None and wait <= WINDOW_WAIT_MAX_SECONDS:
            DBOS.sleep(wait + 0.05)
            batch_ids = _claim()
    _start_batches(batch_ids)
    return {"batches": batch_ids}


@flow_workflow(name="stock.refresh")
def refresh_tick(scheduled_time: Any = None, context: Any = None) -> dict[str, Any]:
    """Re-read hinted SKUs from Adobe Commerce into the outbox, then claim at once."""
    refreshed = _refresh()
    batch_ids = _claim()
    _start_batches(batch_ids)
    return {"refreshed": refreshed, "batches": batch_ids}


def _poll_summary(result: Any) -> dict[str, Any]:
    """What a poll or a catch-up found, as the step's (JSON) result."""
    return {"source_changes": result.source_changes, "order_skus": result.order_skus,
            "product_skus": result.product_skus, "redispatched": result.redispatched,
            "hints": result.refresh.hints}


# The poll and the catch-up are idempotent (hints accumulate, cursors only move forward), so a
# failed attempt is simply tried again: a deadlock victim on PostgreSQL, or "database is locked" on
# SQLite, ended the catch-up at start for good, and the changes made while the worker was down
# stayed off the marketplace (scale-out soak).
@DBOS.step(name="stock.poll", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def _poll() -> dict[str, Any]:
    return _poll_summary(stock_poll.poll(get_runtime()))


@flow_workflow(name="stock.poll")
def poll_workflow(scheduled_time: Any = None, context: Any = None) -> dict[str, Any]:
    return _poll()


@DBOS.step(name="stock.catch_up", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def _catch_up() -> dict[str, Any]:
    return _poll_summary(stock_poll.catch_up(get_runtime()))


@flow_workflow(name="stock.catch_up")
def catch_up_workflow() -> dict[str, Any]:
    caught = _catch_up()
    batch_ids = _claim()
    _start_batches(batch_ids)
    return {"caught": caught, "batches": batch_ids}


def enabled(settings: Settings) -> bool:
    return settings.stock_sync_enabled or settings.price_sync_enabled


def at_start(settings: Settings) -> str | None:
    """Called by the engine once it has launched with schedules: start the catch-up now (its
    own workflow, so a kill during it is recovered like any other). Returns its workflow id."""
    if not enabled(settings):
        return None
    workflow_id = f"stock-catchup-{settings.executor_id}-{uuid.uuid4().hex[:12]}"
    with SetWorkflowID(workflow_id):
        DBOS.start_workflow(catch_up_workflow)
    return workflow_id


_trigger_lock = threading.Lock()
_last_trigger = 0.0


def trigger_push(min_gap_seconds: float = 0.5) -> bool:
    """Start a tick now (from the webhook receiver) so a change goes out at once when the window
    is open; at most one start per ``min_gap_seconds`` per process. Harmless when the engine is
    not running (the schedule does the work then)."""
    global _last_trigger
    from marketbridge.workflows import engine

    if not engine.is_launched():
        return False
    with _trigger_lock:
        now = time.monotonic()
        if now - _last_trigger < min_gap_seconds:
            return False
        _last_trigger = now
    try:
        DBOS.start_workflow(refresh_tick)
    except Exception as error:  # noqa: BLE001 - the schedule will pick the work up anyway
        log.warning("stock.trigger_failed", error=str(error)[:200])
        return False
    return True


def schedules(settings: Settings) -> list[dict[str, Any]]:
    if not enabled(settings):
        return []
    return [
        {"schedule_name": "stock.tick", "workflow_fn": push_tick, "schedule": settings.stock_push_cron},
        {"schedule_name": "stock.refresh", "workflow_fn": refresh_tick, "schedule": settings.stock_push_cron},
        {"schedule_name": "stock.poll", "workflow_fn": poll_workflow, "schedule": settings.stock_poll_cron},
    ]
