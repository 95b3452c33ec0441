"""The orders flow's writes on in-memory fakes (tests/fakes_orders.py): storing an OR11 order and
following the marketplace's state, the OR11 cursor that never passes an order that failed to be
stored, the state machine's transitions and the stock hints they note, the retries on the storage
port's errors (a concurrent change, a concurrent insert, a locked database), and the commands that
only read and decide before any remote call (a person's decision, a retry, creation and
cancellation that have nothing to do). No database: the SQL behind these writes is in
adapters/db/orders.py, covered by tests/integration/test_orders_service.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from marketbridge.bus import MessageBus
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.orders import ORDER_HELD, ORDER_REFUSED, ORDER_UNREADABLE, TransitionNotAllowed
from marketbridge.ports import OrderAlreadyRecorded, OrderChangedUnderUs, StorageBusy
from marketbridge.runtime import Runtime
from marketbridge.services import orders as order_service
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.orders import pulling
from marketbridge.services.orders import record as order_record
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import NoDatabase
from tests.fakes_orders import NOW, FakeOrdersStore

# the poll reading OR11 itself (the feed off): what these pull tests are about; the feed's side is
# test_with_the_order_feed_on_the_poll_reads_no_or11
SETTINGS = load_settings(database_url="sqlite://", session_secret="x" * 48, order_feed_enabled=False)
CURSOR = pulling.cursor_name(SETTINGS)


class FakeOR11:
    """The Mirakl port's OR11 reads (``iter_offset``): the orders given, whatever the parameters;
    the parameters of every read are kept."""

    def __init__(self, *orders: dict[str, Any]) -> None:
        self.orders = list(orders)
        self.reads: list[dict[str, Any]] = []

    def iter_offset(self, api: str, params: dict[str, Any], *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        assert api == "OR11"
        self.reads.append(dict(params))
        yield from self.orders


def _runtime(store: FakeOrdersStore, mirakl: Any = None) -> Runtime:
    runtime = Runtime(settings=SETTINGS, db=NoDatabase(), bus=MessageBus(), engine=NoDatabase(),
                      webhook_handlers=WebhookHandlers(), flow_actions=FlowActions(), shipments_store=NoDatabase(),
                      refunds_store=NoDatabase(), catalogue_store=NoDatabase(), audit_store=NoDatabase(),
                      orders_store=store, people_store=NoDatabase(), alerts_store=NoDatabase(),
                      console_store=NoDatabase(), order_feed_store=NoDatabase())
    if mirakl is not None:
        runtime.mirakl = mirakl
    return runtime


def or11(order_id: str, *, state: str = "WAITING_ACCEPTANCE", updated: dt.datetime = NOW,
         line_state: str | None = None, **values: Any) -> dict[str, Any]:
    """An OR11 order with one line of two units (prices as the JSON numbers Mirakl sends)."""
    return {"order_id": order_id, "order_state": state, "created_date": NOW.isoformat(),
            "last_updated_date": updated.isoformat(), "currency_iso_code": "GBP", "price": 21.9,
            "shipping_price": 0.0, "total_price": 21.9,
            "customer": {"customer_id": "c1", "firstname": "Ann", "lastname": "Example",
                         "shipping_address": {"street_1": "1 High Street", "city": "Leeds"}},
            "order_lines": [{"order_line_id": f"{order_id}-1", "order_line_state": line_state or state,
                             "offer_sku": "LAMP-1", "quantity": 2, "price": 21.9, "total_price": 21.9}],
            **values}


def test_a_new_order_is_stored_once_with_its_first_transition_and_exact_money() -> None:
    store = FakeOrdersStore()
    with store.unit_of_work() as orders:
        assert pulling.store_order(orders, SETTINGS, or11("A-1")) == "new"
    order = store.orders["A-1"]
    assert order.state == "received" and order.connection == SETTINGS.order_connection
    assert order.total_price == Decimal("21.9") and isinstance(order.subtotal, Decimal)
    assert [line.unit_price for line in order.lines] == [Decimal("10.95")]
    assert order.customer_name == "Ann Example" and order.acceptance_deadline is not None
    assert store.transitions_of("A-1") == [(None, "received", "system")]
    with store.unit_of_work() as orders:  # the overlap of the next poll returns it again
        assert pulling.store_order(orders, SETTINGS, or11("A-1")) == "duplicate"
    assert len(store.orders) == 1 and len(store.transitions) == 1


def test_a_refusal_on_the_marketplace_is_followed_and_the_offer_republished() -> None:
    store = FakeOrdersStore()
    with store.unit_of_work() as orders:
        pulling.store_order(orders, SETTINGS, or11("A-1"))
        store.issues.record(IssueReport(ORDER_HELD, "A-1", "held"))
    later = NOW + dt.timedelta(minutes=5)
    with store.unit_of_work() as orders:
        outcome = pulling.store_order(orders, SETTINGS, or11("A-1", state="REFUSED", updated=later,
                                                               order_state_reason_code="AUTO_REFUSED"))
    order = store.orders["A-1"]
    assert outcome == "updated" and order.state == "refused" and "acceptance deadline" in order.reason
    assert store.transitions_of("A-1")[-1] == ("received", "refused", "marketplace")
    assert [line.accepted for line in order.lines] == [False]  # the marketplace's line state decides
    assert store.issues.active(ORDER_REFUSED, "A-1") is not None and store.issues.active(ORDER_HELD, "A-1") is None
    assert store.stock.hints == [{"skus": ["LAMP-1"], "stock": True, "price": False, "force": True,
                                  "reason": "order refused", "exact": True}]
    assert store.flushes == 2  # the lines are written before the transition's hints


def test_the_cursor_never_moves_backwards() -> None:
    store = FakeOrdersStore()
    with store.unit_of_work() as orders:
        pulling.write_cursor(orders, SETTINGS, NOW)
        pulling.write_cursor(orders, SETTINGS, NOW - dt.timedelta(hours=1))
        assert pulling.read_cursor(orders, SETTINGS) == NOW
        pulling.write_cursor(orders, SETTINGS, NOW + dt.timedelta(hours=1))
    assert store.cursors == {CURSOR: (NOW + dt.timedelta(hours=1)).isoformat()}


def test_a_pull_retries_a_concurrent_insert_and_a_locked_database_then_moves_the_cursor() -> None:
    store = FakeOrdersStore()
    store.cursors[CURSOR] = (NOW - dt.timedelta(hours=1)).isoformat()
    later = NOW + dt.timedelta(minutes=1)
    mirakl = FakeOR11(or11("A-1"), or11("B-2", updated=later))
    # the cursor read opens normally; A-1 loses to a concurrent insert, then to a lock, then is stored
    store.failures = [None, OrderAlreadyRecorded("unique order id"), StorageBusy("database is locked", locked=True)]
    result = pulling.pull(_runtime(store, mirakl))
    assert (result.stored, result.duplicates, result.failed) == (2, 0, [])
    assert set(store.orders) == {"A-1", "B-2"} and len(store.transitions) == 2  # each stored once
    assert store.cursors[CURSOR] == later.isoformat() and result.cursor == later.isoformat()
    since = NOW - dt.timedelta(hours=1, seconds=SETTINGS.order_poll_overlap_seconds)
    assert mirakl.reads == [{"start_update_date": since.isoformat().replace("+00:00", "Z")}]


def test_an_order_that_cannot_be_stored_holds_the_cursor_before_it() -> None:
    store = FakeOrdersStore()
    failed_at, later = NOW + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=2)
    mirakl = FakeOR11(or11("A-1", updated=failed_at), or11("B-2", updated=later))
    store.failures = [None, StorageBusy("server closed the connection", locked=False)]  # not a lock: no retry
    result = pulling.pull(_runtime(store, mirakl))
    assert result.failed == ["A-1"] and result.stored == 1 and set(store.orders) == {"B-2"}
    assert store.cursors[CURSOR] == failed_at.isoformat()  # never past the order that failed
    assert pulling.pull(_runtime(store, mirakl)).stored == 1  # the next poll stores it (B-2: duplicate)
    assert set(store.orders) == {"A-1", "B-2"} and store.cursors[CURSOR] == later.isoformat()


def test_a_concurrent_change_is_retried_on_a_fresh_read_and_given_up_after_three() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="received")
    runtime = _runtime(store)
    store.failures = [OrderChangedUnderUs("stale"), OrderChangedUnderUs("stale")]
    assert order_record._write_with_retry(runtime, lambda orders: orders.order("A-1").state) == "received"
    store.failures = [OrderChangedUnderUs("stale")] * 3
    with pytest.raises(OrderChangedUnderUs):
        order_record._write_with_retry(runtime, lambda orders: None)
    assert store.units == 6


def test_a_transition_is_checked_written_with_its_facts_and_a_repeat_is_a_no_op() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="created", lines=[{"magento_sku": "LAMP", "offer_sku": "lamp"}])
    with store.unit_of_work() as orders:
        order = order_service.record_transition(orders, "A-1", "shipped", actor="shipments",
                                                shipped_at=NOW, tracking=("T1",))
        order_service.record_transition(orders, "A-1", "shipped", actor="shipments")  # already there
        with pytest.raises(TransitionNotAllowed):
            order_service.record_transition(orders, "A-1", "received")
        with pytest.raises(LookupError):
            order_service.record_transition(orders, "NOPE", "shipped")
    assert order.state == "shipped" and store.transitions_of("A-1") == [("created", "shipped", "shipments")]
    assert store.transitions[0]["facts"] == {"shipped_at": NOW.isoformat(), "tracking": ["T1"]}
    # shipped: the SKUs are read again exactly, not forced (unchanged values are not re-sent)
    assert store.stock.hints == [{"skus": ["LAMP"], "stock": True, "price": False, "force": False,
                                  "reason": "order shipped", "exact": True}]


def test_the_move_to_created_reads_the_skus_again_as_magentos_reservation_takes_over() -> None:
    """The units leave the sum the stock flow holds back when Magento reserves them: a read that
    took the salable quantity just before must be followed by another (soak dossier MB-000194)."""
    store = FakeOrdersStore()
    store.add("A-1", state="awaiting_payment", lines=[{"magento_sku": "LAMP", "offer_sku": "lamp"},
                                                      {"magento_sku": "DESK", "offer_sku": "desk"}])
    with store.unit_of_work() as orders:
        order_service.record_transition(orders, "A-1", "created")
    assert store.stock.hints == [{"skus": ["DESK", "LAMP"], "stock": True, "price": False, "force": False,
                                  "reason": "order created", "exact": True}]


def test_other_flows_move_the_record_through_the_port_in_a_savepoint() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="created")
    store.add("B-2", state="closed")
    with store.unit_of_work() as orders:
        records = order_record.RepositoryOrderRecords(orders)
        assert records.mark_shipped("A-1", carriers=["DPD"], tracking_numbers=["T1"], at=NOW) is None
        assert "no marketplace order" in (records.mark_shipped("NOPE", carriers=[], tracking_numbers=[], at=NOW) or "")
        assert records.mark_shipped("B-2", carriers=[], tracking_numbers=[], at=NOW)  # not allowed: the reason
        assert records.mark_refunded("NOPE", connection="johnlewis", source="RE01")
    assert store.orders["A-1"].state == "shipped" and store.savepoints == 3


def test_a_refund_of_an_order_stored_only_now_does_not_break_the_refunds_follow() -> None:
    """Found merging the order feed: the feed stores an old, long-refunded order as ``received``,
    and the follow's fully-refunded mark raised TransitionNotAllowed out of its pass."""
    store = FakeOrdersStore()
    store.add("A-1", state="received", marketplace_state="CLOSED")
    with store.unit_of_work() as orders:
        reason = order_record.RepositoryOrderRecords(orders).mark_refunded("A-1", connection="johnlewis",
                                                                           source="marketplace fully_refunded")
    assert reason == "an order cannot go from received to refunded" and store.orders["A-1"].state == "received"


def test_a_persons_decision_and_a_retry_are_checked_and_written_to_the_activity_log() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="created", marketplace_state="SHIPPING")
    store.add("B-2", state="awaiting_payment", marketplace_state="SHIPPING", create_attempt=1)
    runtime = _runtime(store)
    with pytest.raises(order_service.DecisionNotAllowed):
        order_service.decide_by_person(runtime, "A-1", True, actor="ops1")
    with pytest.raises(order_service.DecisionNotAllowed):
        order_service.request_retry(runtime, "A-1", actor="ops1")
    with pytest.raises(LookupError):
        order_service.request_retry(runtime, "NOPE", actor="ops1")
    assert order_service.request_retry(runtime, "B-2", actor="ops1") == "order-create:B-2:retry-2"
    assert store.orders["B-2"].create_attempt == 2
    assert store.issues.activity == [{"actor": "ops1", "action": "order.retry", "object_type": "order",
                                      "object_id": "B-2", "detail": {"attempt": 2}}]


def test_creation_and_cancellation_with_nothing_to_do_call_no_remote_system() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="created", marketplace_state="SHIPPING", magento_entity_id=7)
    store.add("B-2", state="received", marketplace_state="WAITING_ACCEPTANCE")
    runtime = _runtime(store)  # runtime.magento / mirakl would build real clients: none is touched here
    assert order_service.create_in_magento(runtime, "A-1").as_dict()["already"] is True
    assert order_service.create_in_magento(runtime, "B-2").skipped
    assert order_service.cancel_in_magento(runtime, "B-2").skipped
    assert order_service.finish_creation(runtime, "B-2").skipped
    assert order_service.decide(runtime, "A-1").skipped
    assert store.transitions == [] and store.detached == []


def test_with_the_order_feed_on_the_poll_reads_no_or11() -> None:
    store = FakeOrdersStore()
    mirakl = FakeOR11(or11("A-1"))
    runtime = _runtime(store, mirakl)
    runtime.settings = load_settings(database_url="sqlite://", session_secret="x" * 48, order_feed_enabled=True)
    result = pulling.pull(runtime)
    assert mirakl.reads == [] and result.source == "order feed" and store.orders == {}
    assert pulling.pull(_runtime(store, mirakl)).source == "OR11" and mirakl.reads  # and without it, it does


def test_an_unreadable_order_is_an_exception_for_ops_until_a_later_read_stores_it() -> None:
    store = FakeOrdersStore()
    broken = or11("A-1")
    broken["order_lines"] = "not a list"
    outcome = pulling.store_read_orders(_runtime(store), [broken, or11("B-2")])
    assert outcome.failed == ["A-1"] and outcome.new == 1
    assert store.issues.active_ids(ORDER_UNREADABLE) == ["A-1"]
    report = store.issues.entries[(ORDER_UNREADABLE.code, "A-1")].report
    assert "order_lines" in (report.detail or "") and "not a list" not in (report.detail or "")  # names, not values
    again = pulling.store_read_orders(_runtime(store), [or11("A-1")])
    assert again.new == 1 and store.issues.active_ids(ORDER_UNREADABLE) == []
