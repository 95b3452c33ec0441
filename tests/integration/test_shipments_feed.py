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
from tests.integration.shipments_helpers import (
    magento_order,
    marketplace_order,
    mirakl_order,
    ship,
    simple_skus,
)
from tests.integration.test_shipments_service import run_all


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    yield from runtime_builder(migrated_db_url, fresh_sandboxes, order_feed_enabled=True)


def calls(boxes: Any) -> list[str]:
    return [c["api"] for c in httpx2.get(boxes.mirakl_url + "/_sandbox/calls").json()]


def forget_calls(boxes: Any) -> None:
    httpx2.delete(boxes.mirakl_url + "/_sandbox/calls").raise_for_status()


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
    results = run_all(runtime)
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
    assert run_all(runtime) == []  # a second pass sends nothing more
    assert "OR11" not in calls(fresh_sandboxes)


def test_under_the_engine_the_feeds_messages_start_the_send_and_confirm_it(migrated_db_url, fresh_sandboxes):
    """The same loop as the workers run it: the ``orders.feed`` workflow's dispatch step publishes
    ``paid`` (whose handler starts the waiting send: from inside a step, through the DBOS client)
    and then ``shipped`` (whose handler confirms). Every OR11 is one of the feed's reads."""
    from dbos import DBOS

    from marketbridge.bootstrap import build_runtime
    from marketbridge.workflows import engine
    from marketbridge.workflows import order_feed as feed_workflows
    from marketbridge.workflows import shipments as shipment_workflows
    from tests.conftest import make_settings
    from tests.integration.test_order_feed_workflow import QUIET
    from tests.waiting import wait_until

    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, order_feed_enabled=True,
                                          order_feed_export_after_seconds=0, **QUIET))  # every read is OR11's
    engine.launch(runtime, schedules=False)
    url = fresh_sandboxes.mirakl_url

    def feed_read() -> dict[str, Any]:
        """One run of the feed workflow that reads (a run inside OR11's scaled pace skips)."""
        found: list[dict[str, Any]] = []

        def ran() -> bool:
            result = DBOS.start_workflow(feed_workflows.feed_workflow).get_result()
            if result["read"].get("skipped") is None:
                found.append(result)
            return bool(found)

        wait_until(ran, timeout=20)
        return found[0]

    try:
        sku = simple_skus(1)[0]
        with httpx2.Client(base_url=url) as http:
            created = http.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": 1}]}).json()
        order_id = created["order_id"]
        runtime.mirakl.accept_order(order_id, dict.fromkeys(created["order_line_ids"], True))  # not paid yet
        shipment_id = ship(runtime, magento_order(runtime, order_id, [(sku, 1)]),
                           tracks=[("DPD123456", "DPD UK", "custom")])
        forget_calls(fresh_sandboxes)
        first = feed_read()
        assert first["read"]["orders"] >= 1  # the mirror: WAITING_DEBIT
        shipment_service.poll_new_shipments(runtime)
        (started,) = shipment_workflows.start_sends(runtime, shipment_service.due_for_send(runtime))
        assert DBOS.retrieve_workflow(started).get_result()["order_state"] == "WAITING_DEBIT"

        with httpx2.Client(base_url=url) as http:
            http.post(f"/_sandbox/orders/{order_id}/debit").raise_for_status()
        paid = feed_read()
        assert paid["dispatch"]["by_kind"].get("paid") == 1
        wait_until(lambda: state_of(runtime, shipment_id).state == "sent", timeout=30)  # started by "paid"
        assert mirakl_order(url, order_id)["order_state"] == "SHIPPED"

        shipped = feed_read()
        assert shipped["dispatch"]["by_kind"].get("shipped") == 1
        assert state_of(runtime, shipment_id).state == "confirmed"
        made = httpx2.get(url + "/_sandbox/calls").json()
        answered = [c["api"] for c in made if c["status"] < 300]  # a 429 would be no read
        pages = sum(run["read"]["pages"] for run in (first, paid, shipped))  # one OR11 call a page
        assert answered.count("OR11") == pages and answered.count("OR23") == 1 and answered.count("OR24") == 1, made
    finally:
        engine.shutdown()
        runtime.close()
