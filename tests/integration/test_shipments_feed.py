"""The shipments flow with the order feed on (issue 20), against both sandboxes over real HTTP and a
real database (no engine): a Magento shipment is sent (OR23, OR24) and then confirmed by the
feed's next read, and the Mirakl simulator's call log shows no OR11 call from the shipments flow
(its poll, prepare, send and deadline watch): every OR11 is the feed's own read."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.services import order_feed
from marketbridge.services import shipments as shipment_service
from tests.conftest import runtime_builder
from tests.integration.shipments_helpers import magento_order, marketplace_order, mirakl_order, ship, simple_skus


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    yield from runtime_builder(migrated_db_url, fresh_sandboxes, order_feed_enabled=True)


def calls(boxes: Any) -> list[str]:
    return [c["api"] for c in httpx2.get(boxes.mirakl_url + "/_sandbox/calls").json()]


def forget_calls(boxes: Any) -> None:
    httpx2.delete(boxes.mirakl_url + "/_sandbox/calls").raise_for_status()


def run_shipments(runtime: Any) -> list[dict]:
    """What the shipments workflows do, synchronously: poll, then prepare+send every due shipment."""
    shipment_service.poll_new_shipments(runtime)
    shipment_service.recheck_tracks(runtime)
    shipment_service.release_waiting(runtime)
    shipment_service.confirm_from_feed(runtime)
    results = []
    for shipment_id, _ in shipment_service.due_for_send(runtime):
        decision = shipment_service.prepare(runtime, shipment_id)
        result = shipment_service.send(runtime, shipment_id) if decision.action == "send" else decision
        results.append(result.as_json())
    return results


def state_of(runtime: Any, shipment_id: int) -> ShipmentOut:
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        session.expunge(row)
        return row


def test_with_the_feed_on_a_shipment_is_sent_and_confirmed_without_an_or11_call_of_its_own(rt, fresh_sandboxes):
    runtime = rt()
    url = fresh_sandboxes.mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, runtime, [(sku, 1)])
    order = magento_order(runtime, mo["order_id"], [(sku, 1)])
    shipment_id = ship(runtime, order, tracks=[("DPD123456", "DPD UK", "custom")])
    first = order_feed.read(runtime, force=True)  # the feed mirrors the paid order
    assert first.orders >= 1 and not first.failed
    order_feed.dispatch(runtime)  # appeared, accepted, paid: no shipment of it recorded yet, nothing to start

    forget_calls(fresh_sandboxes)
    results = run_shipments(runtime)
    assert [r["state"] for r in results] == ["sent"]
    assert "order feed's next read" in results[0]["how"]
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPED"  # OR23 and OR24 went out
    assert state_of(runtime, shipment_id).state == "sent"  # but only the feed's read confirms them
    watched = shipment_service.watch(runtime)
    assert watched.deadline_near == 0
    made = calls(fresh_sandboxes)
    assert "OR23" in made and "OR24" in made
    assert "OR11" not in made, made

    forget_calls(fresh_sandboxes)
    second = order_feed.read(runtime, force=True)
    assert [c.kind.value for c in second.changes if c.order_id == mo["order_id"]] == ["shipped"]
    assert order_feed.dispatch(runtime).published >= 1  # the "shipped" message confirms it
    row = state_of(runtime, shipment_id)
    assert row.state == "confirmed" and row.confirmed_at is not None
    assert row.results["confirm"]["detail"] == "the order feed read the order SHIPPED"
    assert set(calls(fresh_sandboxes)) == {"OR11"}  # the feed's own read, and nothing else

    forget_calls(fresh_sandboxes)
    assert run_shipments(runtime) == []  # a second pass sends nothing more
    assert "OR11" not in calls(fresh_sandboxes)
