"""The send workflow under DBOS: duplicate triggers for one shipment collapse onto one run. With the
order feed on, as by default (issue 20): the send reads the feed's mirror, the feed's next read
confirms it."""

from __future__ import annotations

import httpx2
from dbos import DBOS

from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.bootstrap import build_runtime
from marketbridge.services import shipments as shipment_service
from marketbridge.workflows import engine
from marketbridge.workflows import shipments as shipment_workflows
from tests.conftest import make_settings
from tests.integration.shipments_helpers import (
    magento_order,
    marketplace_order,
    mirakl_order,
    ship,
    simple_skus,
)
from tests.integration.test_shipments_service import feed_read


def test_duplicate_starts_run_one_send_and_a_new_generation_runs_again(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    engine.launch(runtime, schedules=False)
    try:
        url = fresh_sandboxes.mirakl_url
        sku = simple_skus(1)[0]
        mo = marketplace_order(url, runtime, [(sku, 1)])
        shipment_id = ship(runtime, magento_order(runtime, mo["order_id"], [(sku, 1)]),
                           tracks=[("W1", "Parcelforce", "custom")])
        feed_read(runtime)  # the feed mirrors the paid order (no shipment of it recorded yet)
        shipment_service.poll_new_shipments(runtime)
        due = shipment_service.due_for_send(runtime)
        assert due == [(shipment_id, 1)]
        with httpx2.Client(base_url=url) as http:
            http.delete("/_sandbox/calls")
            first = shipment_workflows.start_sends(runtime, due)
            again = shipment_workflows.start_sends(runtime, due)  # a webhook and the poll at the same time
            assert first == again == [f"shipment:{shipment_id}"]
            result = DBOS.retrieve_workflow(first[0]).get_result()
            assert result["state"] == "sent", result  # from the mirror
            calls = [c["api"] for c in http.get("/_sandbox/calls").json()]
        assert calls.count("OR24") == 1 and calls.count("OR23") == 1
        feed_read(runtime)  # the feed's next read confirms it
        with runtime.db.session() as session:
            assert session.get(ShipmentOut, shipment_id).state == "confirmed"
        assert mirakl_order(url, mo["order_id"])["shipping_carrier_code"] == "PARCELFORCE"
        assert shipment_service.due_for_send(runtime) == []
    finally:
        engine.shutdown()
        runtime.close()
