"""DBOS workflows of the orders flow: thin durable shells around :mod:`marketbridge.services.orders`.

* ``orders.poll`` (schedule ``order_poll_cron``): one step pulls OR11 and stores every order, a
  second lists the orders needing work; each is enqueued on the ``orders`` queue under a
  deterministic workflow id per (phase, order) -- ``order-accept:<id>``, ``order-create:<id>``,
  ``order-cancel:<id>`` -- so repeated polls collapse onto the same workflow.
* ``orders.react`` (started by the order feed's workflow when its read stored orders, issue 20):
  the poll's second step alone, so decisions and creations follow the feed's read at once.
* ``orders.housekeeping`` (schedule ``order_housekeeping_cron``): reminders, stuck orders, purge.

Every step is idempotent against the remote systems (see the service module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from marketbridge.adapters.db.errors import transient_detail
from marketbridge.adapters.errors import TransientError
from marketbridge.ports.orders import StorageBusy
from marketbridge.runtime import Runtime, get_runtime
from marketbridge.services import orders as order_service
from marketbridge.settings import Settings
from marketbridge.workflows.flow import flow_workflow

QUEUE = "orders"  # creations and cancellations: what the payment -> order latency depends on
ACCEPT_QUEUE = "orders_accept"  # decisions have hours before the deadline; they never delay a creation
POLL_QUEUE = "orders_poll"  # one poll at a time, process- and cluster-wide


# Each queue is polled in the database by every worker: at 0.2 s the three cost about a sixth of
# the service's CPU under a stock burst (profiled at 50,000 SKUs). Creations keep a short poll (the
# payment -> order latency); decisions have hours, the poll runs on a schedule of its own.
QUEUES: list[dict[str, Any]] = [
    {"name": QUEUE, "worker_concurrency": 4, "polling_interval_sec": 0.5},
    # Six at a time: a decision is a few calls that mostly wait on the network. With two, a soak
    # under faults (12 % of calls failed or timed out, ~6 s a decision) decided 17 orders a minute
    # while 68 arrived, and orders waited up to 11 minutes. A decision counts the units of other
    # undecided orders already resolved to the same SKU; two decisions within the same few
    # milliseconds can still both take a last unit, and the second order then waits for stock
    # with an issue for Ops (Magento refuses to oversell it), as it could with two.
    {"name": ACCEPT_QUEUE, "worker_concurrency": 6, "polling_interval_sec": 1.0},
    {"name": POLL_QUEUE, "worker_concurrency": 1, "global_concurrency": 1, "polling_interval_sec": 1.0},
]


# Waits between attempts when a remote system is unreachable (seconds, durable sleeps). After the
# last one the order gets an issue record and the workflow ends; a person retries it.
# A creation is half a dozen cart calls, so one flaky call fails the attempt: short first waits,
# more attempts (the full soak, with 12 % of calls faulted, saw an order wait 20 minutes after six
# failed attempts under the older 10-30-60-120-300-600 s ladder).
RETRY_WAITS = (5, 10, 20, 30, 60, 60, 120, 120, 300, 300, 600, 900)


class _Result(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


def _guarded(fn: Callable[[Runtime, str], _Result], order_id: str) -> dict[str, Any]:
    """Run a service call; its typed result is recorded as the JSON object ``as_dict`` gives (the
    portable serializer stores JSON only), and a transient remote failure becomes a JSON result
    the workflow can act on (a Python exception would not survive that serializer as its own type)."""
    try:
        return fn(get_runtime(), order_id).as_dict()
    except TransientError as error:
        return {"order_id": order_id, "transient_error": str(error)[:500]}
    except StorageBusy as error:
        # Our own database refused for a moment ("database is locked" on SQLite under load, a
        # dropped PostgreSQL connection), as the orders flow's storage port reports it: as
        # transient as a remote 503. Raised, it ended the workflow in ERROR under its deterministic
        # id, which later polls return as it is: the full soak left three orders undecided for good
        # after one such error.
        return {"order_id": order_id, "transient_error": f"database: {error.detail[:480]}"}
    except Exception as error:
        # The same moments when they arrive untranslated (adapters.db.errors): no connection of our
        # pool came free within its time-out (a full soak left an order undecided for good after
        # one, "QueuePool limit ... reached"; the port does not translate it), or an operational
        # error raised outside the orders store's unit of work. Anything else is raised as it is.
        detail = transient_detail(error)
        if detail is None:
            raise
        return {"order_id": order_id, "transient_error": f"database: {detail[:480]}"}


# ------------------------------------------------------------------ steps
@DBOS.step(name="orders.pull", retries_allowed=True, max_attempts=3, interval_seconds=2.0)
def pull_step() -> dict[str, Any]:
    return order_service.pull(get_runtime()).as_dict()


@DBOS.step(name="orders.pending")
def pending_step() -> list[dict[str, str]]:
    runtime = get_runtime()
    with runtime.orders_store.unit_of_work() as orders:
        order_service.retry_stock_waits(orders, runtime.settings)
        return [action.as_dict() for action in order_service.pending_actions(orders, runtime.settings)]


@DBOS.step(name="orders.decide")
def decide_step(order_id: str) -> dict[str, Any]:
    return _guarded(order_service.decide, order_id)


@DBOS.step(name="orders.create")
def create_step(order_id: str) -> dict[str, Any]:
    return _guarded(order_service.create_in_magento, order_id)


@DBOS.step(name="orders.finish")
def finish_step(order_id: str) -> dict[str, Any]:
    return _guarded(order_service.finish_creation, order_id)


@DBOS.step(name="orders.cancel")
def cancel_step(order_id: str) -> dict[str, Any]:
    return _guarded(order_service.cancel_in_magento, order_id)


@DBOS.step(name="orders.report_unreachable")
def report_unreachable_step(order_id: str, phase: str, error: str) -> None:
    order_service.report_unreachable(get_runtime(), order_id, phase, error)


@DBOS.step(name="orders.housekeeping")
def housekeeping_step() -> dict[str, int]:
    return order_service.housekeeping(get_runtime())


def _patiently(step: Callable[[str], dict[str, Any]], order_id: str, phase: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for wait in (*RETRY_WAITS, None):
        result = step(order_id)
        if "transient_error" not in result:
            return result
        if wait is not None:
            DBOS.sleep(wait)
    report_unreachable_step(order_id, phase, result["transient_error"])
    return result


# ------------------------------------------------------------------ workflows
@flow_workflow(name="orders.accept")
def accept_workflow(order_id: str) -> dict[str, Any]:
    return _patiently(decide_step, order_id, "accept")


@flow_workflow(name="orders.create")
def create_workflow(order_id: str) -> dict[str, Any]:
    created = _patiently(create_step, order_id, "create")
    if created.get("magento_entity_id") is not None:
        created["finish"] = _patiently(finish_step, order_id, "finish")
    return created


@flow_workflow(name="orders.cancel")
def cancel_workflow(order_id: str) -> dict[str, Any]:
    return _patiently(cancel_step, order_id, "cancel")


PHASES = {"accept": accept_workflow, "create": create_workflow, "cancel": cancel_workflow}


def enqueue(action: dict[str, str]) -> str:
    """Enqueue one per-order workflow under its deterministic id (an existing one is returned)."""
    with SetWorkflowID(action["workflow_id"]):
        queue = ACCEPT_QUEUE if action["phase"] == "accept" else QUEUE
        handle = DBOS.enqueue_workflow(queue, PHASES[action["phase"]], action["order_id"])
    return handle.workflow_id


@flow_workflow(name="orders.poll")
def poll_workflow(scheduled_time: Any = None, context: Any = None) -> dict[str, Any]:
    pulled = pull_step()
    actions = pending_step()
    for action in actions:
        enqueue(action)
    return {**pulled, "enqueued": len(actions)}


@flow_workflow(name="orders.poll_tick")
def poll_tick(scheduled_time: Any = None, context: Any = None) -> str:
    """The schedule's entry: enqueue one poll unless one is already waiting or running, so that a
    slow poll never overlaps the next (they would store the same orders twice)."""
    with SetEnqueueOptions(deduplication_id="orders-poll", duplication_policy="return-existing"):
        return DBOS.enqueue_workflow(POLL_QUEUE, poll_workflow).workflow_id


@flow_workflow(name="orders.react")
def react_workflow() -> dict[str, Any]:
    """The orders poll without a read (the order feed has just stored orders): enqueue the per-order
    workflows they need now. Not deduplicated against the poll: a poll already running may have
    listed its pending work before the feed stored these orders, and returning that poll (as a
    tick's deduplication would) left them until the next tick, a minute in production (seen in the
    integration test under load). Overlapping runs are harmless: each per-order workflow has a
    deterministic id, so a second enqueue returns the first."""
    actions = pending_step()
    for action in actions:
        enqueue(action)
    return {"enqueued": len(actions)}


def trigger_poll() -> str:
    """Start :func:`react_workflow` now (the order feed stored orders: decide and create them
    without waiting for the poll's next tick). Called from the feed's workflow, so it is a child
    workflow there (recorded, not started twice on recovery)."""
    return DBOS.start_workflow(react_workflow).get_workflow_id()


@flow_workflow(name="orders.housekeeping")
def housekeeping_workflow(scheduled_time: Any = None, context: Any = None) -> dict[str, int]:
    return housekeeping_step()


def schedules(settings: Settings) -> list[dict[str, Any]]:
    return [
        {"schedule_name": "orders.poll", "workflow_fn": poll_tick, "schedule": settings.order_poll_cron},
        {"schedule_name": "orders.housekeeping", "workflow_fn": housekeeping_workflow,
         "schedule": settings.order_housekeeping_cron},
    ]


def run_poll_now() -> dict[str, Any]:
    """Start one poll at once (CLI ``orders pull`` with the engine launched); waits for the pull."""
    handle = DBOS.start_workflow(poll_workflow, None, None)
    return handle.get_result()
