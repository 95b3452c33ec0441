"""Deadline watch and unconfirmed shipments: raised for Ops, cleared when the condition is gone;
transient marketplace failures are retried, not turned into issues. With the order feed on, as by
default (issue 20): the watch and the sends read the feed's mirror, so the feed reads first."""

from __future__ import annotations

import httpx2
import pytest

from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.adapters.errors import TransientError
from marketbridge.bootstrap import build_runtime
from marketbridge.services import issues as issue_service
from marketbridge.services import shipments as shipment_service
from tests.conftest import make_settings
from tests.integration.shipments_helpers import (
    magento_order,
    marketplace_order,
    mirakl_order,
    ship,
    simple_skus,
)
from tests.integration.test_shipments_service import feed_read, run_with_feed


def active(runtime, code):
    with runtime.db.session() as session:
        return sorted(r.object_id for r in issue_service.list_records(
            session, issue_service.IssueFilter(type=code, active_only=True)))


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, shipping_deadline_lead_hours=96,
                                          shipment_unconfirmed_minutes=0.001))
    runtime.extras["boxes"] = fresh_sandboxes
    yield runtime
    runtime.close()


def test_deadline_near_is_raised_for_unshipped_orders_and_cleared_once_shipped(rt):
    url = rt.extras["boxes"].mirakl_url
    a, b = simple_skus(2)
    late = marketplace_order(url, rt, [(a, 1)])
    handled = marketplace_order(url, rt, [(b, 1)])
    ship(rt, magento_order(rt, handled["order_id"], [(b, 1)]), tracks=[("DPD1", "DPD", "custom")])
    shipment_service.poll_new_shipments(rt)
    feed_read(rt)  # the watch reads the feed's mirror

    counts = shipment_service.watch(rt)
    assert counts.deadline_near == 1
    assert active(rt, "shipping_deadline_near") == [late["order_id"]]

    ship(rt, magento_order(rt, late["order_id"], [(a, 1)]), tracks=[("DPD2", "DPD", "custom")])
    run_with_feed(rt)
    assert mirakl_order(url, late["order_id"])["order_state"] == "SHIPPED"
    shipment_service.watch(rt)
    assert active(rt, "shipping_deadline_near") == []


def test_deadline_far_away_raises_nothing(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, shipping_deadline_lead_hours=1))
    try:
        marketplace_order(fresh_sandboxes.mirakl_url, runtime, [(simple_skus(1)[0], 1)])
        feed_read(runtime)  # the watch reads the feed's mirror: the order is there, its deadline far
        assert shipment_service.watch(runtime).deadline_near == 0
    finally:
        runtime.close()


def test_unconfirmed_shipment_is_raised_then_cleared_when_confirmed(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    shipment_id = ship(rt, magento_order(rt, mo["order_id"], [(sku, 1)]), tracks=[("X1", "Nobody Express", "custom")])
    run_with_feed(rt)
    shipment_service.watch(rt)
    assert active(rt, "shipment_unconfirmed") == [str(shipment_id)]
    shipment_service.add_mapping(rt, marketplace_code="APC", title="Nobody Express")
    run_with_feed(rt)
    shipment_service.watch(rt)
    assert active(rt, "shipment_unconfirmed") == []
    assert mirakl_order(url, mo["order_id"])["shipping_carrier_code"] == "APC"


def test_a_transient_failure_on_ship_is_retried_and_nothing_is_sent_twice(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    shipment_id = ship(rt, magento_order(rt, mo["order_id"], [(sku, 1)]), tracks=[("U1", "UPS", "ups")])
    feed_read(rt)  # the send reads the feed's mirror
    shipment_service.poll_new_shipments(rt)
    assert shipment_service.prepare(rt, shipment_id).action == "send"
    with httpx2.Client(base_url=url) as http:
        http.post("/_sandbox/faults", json={"rules": [{"endpoint": "OR24", "error_rate": 1.0}]}).raise_for_status()
        with pytest.raises(TransientError):
            shipment_service.send(rt, shipment_id)  # the durable step retries this with backoff
        assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPING"
        assert active(rt, "shipment_rejected") == []  # a 5xx is not a refusal
        http.delete("/_sandbox/faults")
    assert shipment_service.send(rt, shipment_id).state == "sent"  # the feed's next read confirms it
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPED"
    feed_read(rt)
    with rt.db.session() as session:
        assert session.get(ShipmentOut, shipment_id).state == "confirmed"


def test_shipment_for_a_cancelled_order_is_refused_once_not_retried(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    shipment_id = ship(rt, magento_order(rt, mo["order_id"], [(sku, 1)]), tracks=[("D9", "DHL", "dhl")])
    with httpx2.Client(base_url=url) as http:
        http.post(f"/_sandbox/orders/{mo['order_id']}/cancel").raise_for_status()
    run_with_feed(rt)
    assert active(rt, "shipment_rejected") == [str(shipment_id)]
    assert run_with_feed(rt) == []
