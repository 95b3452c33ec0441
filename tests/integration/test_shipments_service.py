"""The shipments flow against both sandboxes over real HTTP and a real database (no engine):
detect → prepare → send, carrier mapping, tracking added later, several parcels, idempotency.

With the order feed on, as by default (issue 20): a send reads the feed's mirror and the feed's
next read confirms it (:func:`run_with_feed`). The tests marked ``OR11_PATH`` are about the flow's
own OR11 reads (the feed off): the send's batched snapshot, its re-read that confirms at once."""

from __future__ import annotations

import pytest

from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.shipments import ShipmentState
from marketbridge.services import issues as issue_service
from marketbridge.services import order_feed
from marketbridge.services import shipments as shipment_service
from marketbridge.services.shipments import detect
from tests.conftest import make_settings
from tests.integration.shipments_helpers import (
    magento_order,
    marketplace_order,
    mirakl_order,
    mirakl_settings,
    ship,
    simple_skus,
)


@pytest.fixture
def rt(request, migrated_db_url, fresh_sandboxes):
    overrides = getattr(request, "param", {})
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, shipment_unconfirmed_minutes=1,
                                          **overrides))
    runtime.extras["boxes"] = fresh_sandboxes
    yield runtime
    runtime.close()


def run_all(runtime) -> list[dict]:
    """What the workflow does, synchronously: poll, then prepare+send every due shipment."""
    shipment_service.poll_new_shipments(runtime)
    shipment_service.recheck_tracks(runtime)
    shipment_service.release_waiting(runtime)
    shipment_service.confirm_from_feed(runtime)  # as the poll does; nothing to do with the feed off
    results = []
    for shipment_id, _ in shipment_service.due_for_send(runtime):
        decision = shipment_service.prepare(runtime, shipment_id)
        result = shipment_service.send(runtime, shipment_id) if decision.action == "send" else decision
        results.append(result.as_json())  # what the workflow returns
    return results


#: the shipments flow reading OR11 itself (the order feed off): for the tests about that read
OR11_PATH = pytest.mark.parametrize("rt", [{"order_feed_enabled": False}], indirect=True, ids=["feed-off"])


def feed_read(runtime) -> None:
    """The order feed's read and its dispatch, as its schedule runs them (forced: a test does not
    wait for the schedule)."""
    read = order_feed.read(runtime, force=True)
    assert read.skipped is None and not read.failed, read.as_dict()
    order_feed.dispatch(runtime)


def run_with_feed(runtime) -> list[dict]:
    """:func:`run_all` as the default install runs it (the order feed on): the feed's read first (a
    send reads the feed's mirror), and again after the sends (that read confirms them)."""
    feed_read(runtime)
    results = run_all(runtime)
    feed_read(runtime)
    return results


def row(runtime, shipment_id) -> ShipmentOut:
    with runtime.db.session() as session:
        return session.get(ShipmentOut, shipment_id)


def active(runtime, code):
    with runtime.db.session() as session:
        return [issue_service.to_dict(r) for r in issue_service.list_records(
            session, issue_service.IssueFilter(type=code, active_only=True))]


def test_shipment_with_known_carrier_ships_the_marketplace_order(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order, tracks=[("DPD123456", "DPD UK", "custom")])

    results = run_with_feed(rt)

    assert results[-1]["state"] == "sent"  # from the mirror; the feed's next read confirmed it (below)
    remote = mirakl_order(url, mo["order_id"])
    assert remote["order_state"] == "SHIPPED"
    assert remote["shipping_tracking"] == "DPD123456"
    assert remote["shipping_carrier_code"] == "DPD"
    stored = row(rt, shipment_id)
    assert stored.state == "confirmed" and stored.carrier_code == "DPD" and stored.confirmed_at is not None
    assert stored.carrier_match.startswith("label")
    # a second pass sends nothing more
    assert run_with_feed(rt) == []


def test_unmapped_carrier_waits_with_an_issue_and_mapping_releases_it(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order, tracks=[("SPD-99", "Speedy Couriers Ltd", "custom")])

    run_with_feed(rt)
    assert row(rt, shipment_id).state == ShipmentState.WAITING_CARRIER
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPING"
    open_ = active(rt, "carrier_unmapped")
    assert len(open_) == 1 and open_[0]["owner"] == "ops"
    assert "Speedy Couriers" in open_[0]["message"]
    assert open_[0]["context"]["waiting_shipments"] == [shipment_id]
    assert open_[0]["context"]["suggestions"], "ranked SH21 suggestions expected"

    added = shipment_service.add_mapping(rt, marketplace_code="YODEL", magento_carrier_code="custom",
                                title="Speedy Couriers Ltd", actor="test")
    assert added.released_shipments == [shipment_id] and added.mapping.marketplace_code == "YODEL"
    assert active(rt, "carrier_unmapped") == []
    run_with_feed(rt)
    remote = mirakl_order(url, mo["order_id"])
    assert remote["order_state"] == "SHIPPED" and remote["shipping_carrier_code"] == "YODEL"


def test_tracking_added_later_is_picked_up(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order)

    run_with_feed(rt)
    assert row(rt, shipment_id).state == ShipmentState.WAITING_TRACKING
    assert len(active(rt, "shipment_tracking_missing")) == 1
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPING"

    rt.magento.add_track(shipment_id, order.entity_id, "RM000111GB", "Royal Mail", "custom")
    run_with_feed(rt)
    remote = mirakl_order(url, mo["order_id"])
    assert remote["order_state"] == "SHIPPED" and remote["shipping_tracking"] == "RM000111GB"
    assert active(rt, "shipment_tracking_missing") == []


# OR11_PATH: the send's own OR11 read finds the order shipped (the feed's mirror: tests/unit/test_shipments_feed.py)
@OR11_PATH
def test_order_already_shipped_is_recorded_done_not_sent_again(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order, tracks=[("1Z999", "UPS", "ups")])
    # shipped in the marketplace back office before we got to it
    from marketbridge.adapters.mirakl import models as mirakl_models
    rt.mirakl.update_tracking(mo["order_id"], mirakl_models.TrackingRequest(carrier_code="UPS", tracking_number="1Z999"))
    rt.mirakl.ship_order(mo["order_id"])
    import httpx2
    with httpx2.Client(base_url=url) as http:
        http.delete("/_sandbox/calls")

    results = run_all(rt)

    assert results[-1]["state"] == "confirmed"
    with httpx2.Client(base_url=url) as http:
        calls = [c["api"] for c in http.get("/_sandbox/calls").json()]
    assert "OR23" not in calls and "OR24" not in calls and "OR11" in calls
    assert row(rt, shipment_id).state == "confirmed"


# OR11_PATH: the re-run's OR11 read finds the order shipped and confirms at once
@OR11_PATH
def test_repeat_after_crash_between_or23_and_or24_does_not_double_send(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order, tracks=[("DHL42", "DHL", "dhl")])
    shipment_service.poll_new_shipments(rt)
    assert shipment_service.prepare(rt, shipment_id).action == "send"
    first = shipment_service.send(rt, shipment_id)
    second = shipment_service.send(rt, shipment_id)  # the step re-run after a crash: reads first
    assert first.state == "confirmed" and second.state == "confirmed"
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPED"


def test_reused_tracking_number_becomes_an_issue(rt):
    url = rt.extras["boxes"].mirakl_url
    a, b = simple_skus(2)
    first = marketplace_order(url, rt, [(a, 1)])
    second = marketplace_order(url, rt, [(b, 1)])
    ship(rt, magento_order(rt, first["order_id"], [(a, 1)]), tracks=[("SAME1", "DPD", "custom")])
    run_with_feed(rt)
    reused = ship(rt, magento_order(rt, second["order_id"], [(b, 1)]), tracks=[("SAME1", "DPD", "custom")])
    run_with_feed(rt)
    assert row(rt, reused).state == "error"
    assert [e["object_id"] for e in active(rt, "tracking_number_reused")] == [str(reused)]
    assert mirakl_order(url, second["order_id"])["order_state"] == "SHIPPING"


def test_lines_unknown_to_the_marketplace_become_an_issue(rt):
    url = rt.extras["boxes"].mirakl_url
    a, b = simple_skus(2)
    mo = marketplace_order(url, rt, [(a, 1)])
    order = magento_order(rt, mo["order_id"], [(a, 1), (b, 1)])  # Magento has an extra line
    shipment_id = ship(rt, order, tracks=[("DPD777", "DPD", "custom")])
    run_with_feed(rt)
    assert row(rt, shipment_id).state == "error"
    problems = active(rt, "shipment_lines_unknown")
    assert len(problems) == 1 and b in problems[0]["message"]
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPING"
    assert run_with_feed(rt) == []  # no blind retry


def test_several_parcels_single_shipment_mode_ships_when_the_last_parcel_goes(rt):
    url = rt.extras["boxes"].mirakl_url
    a, b = simple_skus(2)
    mo = marketplace_order(url, rt, [(a, 1), (b, 2)])
    order = magento_order(rt, mo["order_id"], [(a, 1), (b, 2)])
    first = ship(rt, order, items={a: 1}, tracks=[("P1", "DPD", "custom")])
    run_with_feed(rt)
    assert row(rt, first).state == "partial"
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPING"
    second = ship(rt, order, items={b: 2}, tracks=[("P2", "DPD", "custom")])
    run_with_feed(rt)
    assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPED"
    assert row(rt, first).state == "confirmed" and row(rt, second).state == "confirmed"


def test_several_parcels_multi_shipment_mode_uses_st01_per_shipment(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, multi_shipment=True))
    try:
        url = fresh_sandboxes.mirakl_url
        mirakl_settings(url, multi_shipment=True)
        a, b = simple_skus(2)
        mo = marketplace_order(url, runtime, [(a, 1), (b, 2)])
        order = magento_order(runtime, mo["order_id"], [(a, 1), (b, 2)])
        first = ship(runtime, order, items={a: 1}, tracks=[("P1", "DPD", "custom")])
        run_with_feed(runtime)
        assert row(runtime, first).state == "confirmed"
        assert row(runtime, first).marketplace_shipment_id
        assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPING"
        second = ship(runtime, order, items={b: 1}, tracks=[("P2", "Evri", "custom")])
        third = ship(runtime, order, items={b: 1}, tracks=[("P3", "Royal Mail", "custom")])
        run_with_feed(runtime)
        assert mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPED"
        shipments = list(runtime.mirakl.list_shipments(order_ids=[mo["order_id"]]))
        assert sorted(s.tracking.tracking_number for s in shipments) == ["P1", "P2", "P3"]
        assert {row(runtime, i).state for i in (second, third)} == {"confirmed"}
        # a repeat finds the marketplace shipment by its package reference instead of creating another
        shipment_service.send(runtime, third)
        assert len(list(runtime.mirakl.list_shipments(order_ids=[mo["order_id"]]))) == 3
    finally:
        runtime.close()


# OR11_PATH: counts the flow's own OR11 calls
@OR11_PATH
def test_a_burst_of_shipments_reads_the_marketplace_orders_in_one_or11_call(rt):
    import httpx2

    url = rt.extras["boxes"].mirakl_url
    skus = simple_skus(3)
    orders = [marketplace_order(url, rt, [(sku, 1)]) for sku in skus]
    for i, (mo, sku) in enumerate(zip(orders, skus, strict=True)):
        ship(rt, magento_order(rt, mo["order_id"], [(sku, 1)]), tracks=[(f"B{i}", "DPD", "custom")])
    with httpx2.Client(base_url=url) as http:
        http.delete("/_sandbox/calls")
        results = run_all(rt)
        calls = [c["api"] for c in http.get("/_sandbox/calls").json()]
    assert [r["state"] for r in results] == ["confirmed"] * 3
    assert calls.count("OR11") == 1 and calls.count("OR23") == 3 and calls.count("OR24") == 3
    assert all(mirakl_order(url, mo["order_id"])["order_state"] == "SHIPPED" for mo in orders)


# OR11_PATH: counts the flow's own OR11 calls
@OR11_PATH
def test_sends_running_side_by_side_share_one_or11_read(rt):
    """The send queue runs four sends at once, and OR11 makes each caller wait for its turn: a
    send that misses the snapshot while another's read is out waits for that read (which carries
    every due order) instead of queueing an OR11 call of its own (the full soak's end-of-day wave
    sat in OR11's queue one shipment per call)."""
    import threading
    import time

    import httpx2

    url = rt.extras["boxes"].mirakl_url
    skus = simple_skus(4)
    orders = [marketplace_order(url, rt, [(sku, 1)]) for sku in skus]
    for i, (mo, sku) in enumerate(zip(orders, skus, strict=True)):
        ship(rt, magento_order(rt, mo["order_id"], [(sku, 1)]), tracks=[(f"W{i}", "DPD", "custom")])
    shipment_service.poll_new_shipments(rt)
    due = [shipment_id for shipment_id, _ in shipment_service.due_for_send(rt)]
    assert len(due) == 4
    for shipment_id in due:
        assert shipment_service.prepare(rt, shipment_id).action == "send"
    real_list_orders = rt.mirakl.list_orders

    def list_orders_after_its_turn(**kw):
        time.sleep(0.3)  # the limiter's wait for OR11's next slot
        return real_list_orders(**kw)

    rt.mirakl.list_orders = list_orders_after_its_turn
    start = threading.Barrier(len(due))
    results: dict[int, dict] = {}

    def send(shipment_id: int) -> None:
        start.wait()
        results[shipment_id] = shipment_service.send(rt, shipment_id)

    with httpx2.Client(base_url=url) as http:
        http.delete("/_sandbox/calls")
        threads = [threading.Thread(target=send, args=(shipment_id,)) for shipment_id in due]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        calls = [c["api"] for c in http.get("/_sandbox/calls").json()]
    assert [results[i].state for i in due] == ["confirmed"] * 4
    assert calls.count("OR11") == 1, calls
    assert calls.count("OR23") == 4 and calls.count("OR24") == 4


def test_retry_with_send_anyway_sends_a_reused_tracking_number(rt):
    url = rt.extras["boxes"].mirakl_url
    a, b = simple_skus(2)
    first = marketplace_order(url, rt, [(a, 1)])
    second = marketplace_order(url, rt, [(b, 1)])
    ship(rt, magento_order(rt, first["order_id"], [(a, 1)]), tracks=[("MULTI1", "DPD", "custom")])
    reused = ship(rt, magento_order(rt, second["order_id"], [(b, 1)]), tracks=[("MULTI1", "DPD", "custom")])
    run_with_feed(rt)
    assert row(rt, reused).state == "error"
    shipment_service.retry_shipment(rt, reused, actor="ops1", send_anyway=True)
    run_with_feed(rt)
    assert row(rt, reused).state == "confirmed"
    assert mirakl_order(url, second["order_id"])["order_state"] == "SHIPPED"
    assert active(rt, "tracking_number_reused") == []


def test_a_track_added_after_shipping_corrects_the_marketplace_tracking_via_the_webhook(rt):
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order, tracks=[("WRONG1", "DPD", "custom")])
    run_with_feed(rt)
    assert mirakl_order(url, mo["order_id"])["shipping_tracking"] == "WRONG1"
    rt.magento.add_track(shipment_id, order.entity_id, "RIGHT2", "DPD", "custom")
    # a confirmed shipment is not re-read by the poll (cost); the track-save webhook re-reads it
    assert run_with_feed(rt) == []
    assert shipment_service.detect_shipment(rt, shipment_id) == shipment_id
    run_with_feed(rt)
    remote = mirakl_order(url, mo["order_id"])
    assert remote["order_state"] == "SHIPPED" and remote["shipping_tracking"] == "RIGHT2"
    assert row(rt, shipment_id).state == "confirmed" and row(rt, shipment_id).tracking_number == "RIGHT2"


def test_the_poll_survives_a_webhook_storing_the_same_shipment_first(rt, monkeypatch):
    """The soak saw whole polls fail on the unique shipment id: a webhook's detect committed the
    shipment after the poll had looked for it. The insert is now insert-if-absent; the poll goes on."""
    url = rt.extras["boxes"].mirakl_url
    sku = simple_skus(1)[0]
    mo = marketplace_order(url, rt, [(sku, 1)])
    order = magento_order(rt, mo["order_id"], [(sku, 1)])
    shipment_id = ship(rt, order, tracks=[("DPD555000111", "DPD UK", "custom")])
    real_record = detect.record_shipment
    raced = []

    class ReadBeforeTheWebhookCommitted:
        """The poll's unit of work, whose first look for the shipment happened before the webhook's commit."""

        def __init__(self, repo):
            self._repo = repo
            self._looked = False

        def shipment(self, key):
            if not self._looked:
                self._looked = True
                return None
            return self._repo.shipment(key)

        def __getattr__(self, name):
            return getattr(self._repo, name)

    webhook = []

    def racing(repo, shipment, ext):
        if webhook:  # the webhook's own detect, then the poll's second pass
            return real_record(repo, shipment, ext)
        webhook.append(shipment.entity_id)
        assert shipment_service.detect_shipment(rt, shipment.entity_id) == shipment_id  # the webhook, first
        raced.append(shipment.entity_id)
        return real_record(ReadBeforeTheWebhookCommitted(repo), shipment, ext)  # inserts a second time

    monkeypatch.setattr(detect, "record_shipment", racing)  # looked up in detect by the poll
    shipment_service.poll_new_shipments(rt)
    assert raced == [shipment_id]
    assert row(rt, shipment_id).state == "new"
    monkeypatch.setattr(detect, "record_shipment", real_record)
    assert run_with_feed(rt)[-1]["state"] == "sent"  # the feed's next read confirms it
    assert row(rt, shipment_id).state == "confirmed"
