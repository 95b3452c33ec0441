"""A shipment webhook starts a detect run on the engine, wherever the engine keeps its records.

On SQLite the engine has a file of its own (adapters.db.engine_store); the handler's enqueue in
our transaction then named a table that file holds, not ours ("no such table:
main.workflow_status"): every shipment delivery failed to dispatch, found by the full soak."""

import json

from marketbridge.services import webhooks as webhook_service
from marketbridge.workflows import engine
from marketbridge.workflows import shipments as shipment_workflows
from marketbridge.workflows.maintenance import _client


def _detect_runs(runtime) -> list[str]:
    return [w.workflow_id for w in _client(runtime).list_workflows(name=shipment_workflows.DETECT_WORKFLOW,
                                                                  load_input=False, load_output=False)]


def test_a_shipment_delivery_is_dispatched_and_queues_a_detect_run(runtime):
    engine.launch(runtime, schedules=False)
    try:
        bodies = [{"eventName": "observer.sales_order_shipment_save_after", "data": {"shipment": {"entity_id": 4242}}},
                  {"eventName": "observer.sales_order_shipment_track_save_after",
                   "data": {"track": {"parent_id": 4242, "track_number": "JD0001"}}}]
        for body in bodies:
            stored, handled = webhook_service.store_and_dispatch(
                runtime.db.session, json.dumps(body).encode(), runtime.webhook_handlers,
                dedup_window_seconds=runtime.settings.webhook_dedup_seconds)
            assert handled, "the shipment event was stored but its handler failed"
        # one run, or two if the first had already left the queue (deduplication holds while queued)
        assert 1 <= len(_detect_runs(runtime)) <= 2
    finally:
        engine.shutdown()


def test_a_rolled_back_delivery_queues_nothing(runtime):
    """Where the engine has a file of its own the run is queued once our transaction commits, so
    a rollback leaves nothing behind, as the transactional enqueue does on PostgreSQL."""
    engine.launch(runtime, schedules=False)
    try:
        class Abort(Exception):
            pass

        try:
            with runtime.db.session() as session:
                shipment_workflows.on_shipment_event(session, "observer.sales_order_shipment_save_after",
                                                     {"shipment": {"entity_id": 5151}})
                raise Abort
        except Abort:
            pass
        assert _detect_runs(runtime) == []
    finally:
        engine.shutdown()
