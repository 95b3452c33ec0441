"""The orders flow's reading rules on in-memory fakes (tests/fakes_orders.py): what needs a
workflow, when a stock wait is retried, what counts as sold and not yet in Adobe Commerce, what
other open orders reserve, what the console and the JSON API show, and housekeeping's reminders
and stuck orders. No database: the SQL of these reads is in adapters/db/orders.py,
covered by the integration tests (tests/integration/test_orders_service.py and
test_order_console_views.py)."""

from __future__ import annotations

import datetime as dt

from marketbridge.bus import MessageBus
from marketbridge.domain.orders import (
    ORDER_ACCEPTANCE_DEADLINE_NEAR,
    ORDER_STUCK_UNSHIPPED,
    ORDER_WAITING_FOR_STOCK,
)
from marketbridge.domain.stock import Kind, Rule, Scope
from marketbridge.runtime import Runtime
from marketbridge.services import orders as order_service
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.orders import queries, skus, todo, upkeep, views
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import NoDatabase
from tests.fakes_audit import FakeStockRecords
from tests.fakes_orders import NOW, FakeOrdersStore
from tests.fakes_refunds import FakeSkuLinks

SETTINGS = load_settings(database_url="sqlite://", session_secret="x" * 48)
HOUR = dt.timedelta(hours=1)


def test_pending_actions_name_the_phase_and_a_deterministic_workflow_id() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="received", marketplace_state="WAITING_ACCEPTANCE")
    store.add("B-2", state="awaiting_payment", marketplace_state="SHIPPING", create_attempt=2)
    store.add("C-3", state="created", marketplace_state="CANCELED")
    store.add("D-4", state="created", marketplace_state="SHIPPING")  # waiting for shipment: nothing to do
    store.add("E-5", state="received", marketplace_state="WAITING_ACCEPTANCE", connection="other")
    with store.unit_of_work() as orders:
        actions = order_service.pending_actions(orders, SETTINGS)
    assert actions == [
        todo.PendingAction("accept", "A-1", "order-accept:A-1"),
        todo.PendingAction("create", "B-2", "order-create:B-2:retry-2"),
        todo.PendingAction("cancel", "C-3", "order-cancel:C-3"),
    ]
    assert actions[0].as_dict() == {"phase": "accept", "order_id": "A-1", "workflow_id": "order-accept:A-1"}


def test_an_order_without_an_address_is_not_created_yet() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="awaiting_payment", marketplace_state="SHIPPING", shipping_address=None)
    with store.unit_of_work() as orders:
        assert order_service.pending_actions(orders, SETTINGS) == []


def test_a_stock_wait_is_retried_once_its_attempt_answered_and_the_wait_is_old_enough() -> None:
    store = FakeOrdersStore()
    order = store.add("A-1", state="awaiting_payment", marketplace_state="SHIPPING")
    issue = store.add_issue(ORDER_WAITING_FOR_STOCK.code, "A-1", last_seen=NOW)
    with store.unit_of_work() as orders:
        assert order_service.retry_stock_waits(orders, SETTINGS, now=NOW) == []  # too recent
    later = NOW + dt.timedelta(seconds=SETTINGS.order_stock_retry_seconds + 1)
    with store.unit_of_work() as orders:
        assert order_service.retry_stock_waits(orders, SETTINGS, now=later) == ["A-1"]
        [action] = order_service.pending_actions(orders, SETTINGS)
    assert order.create_attempt == 1 and action.workflow_id == "order-create:A-1:retry-1"
    assert store.waits[issue].last_seen == later
    much_later = later + dt.timedelta(seconds=SETTINGS.order_stock_retry_seconds + 1)
    with store.unit_of_work() as orders:  # attempt 1 has not recorded its answer on the issue yet
        assert order_service.retry_stock_waits(orders, SETTINGS, now=much_later) == []


def test_a_stock_wait_of_an_order_created_or_resolved_is_left_alone() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="created", marketplace_state="SHIPPING", magento_entity_id=7)
    store.add("B-2", state="awaiting_payment", marketplace_state="SHIPPING")
    store.add_issue(ORDER_WAITING_FOR_STOCK.code, "A-1")
    store.add_issue(ORDER_WAITING_FOR_STOCK.code, "B-2", state="resolved")
    with store.unit_of_work() as orders:
        assert order_service.retry_stock_waits(orders, SETTINGS, now=NOW + 10 * HOUR) == []


def test_units_sold_count_undecided_and_accepted_lines_until_the_order_is_in_magento() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="held", lines=[{"magento_sku": "LAMP", "quantity": 2},
                                          {"magento_sku": "SHADE", "quantity": 1, "accepted": False}])
    store.add("B-2", state="awaiting_payment", lines=[{"magento_sku": "LAMP", "quantity": 1, "accepted": True}])
    store.add("C-3", state="created", lines=[{"magento_sku": "LAMP", "quantity": 5}])
    store.add("D-4", state="received", lines=[{"magento_sku": "LAMP", "quantity": 4, "marketplace_state": "CANCELED"}])
    with store.unit_of_work() as orders:
        assert queries.units_sold_not_in_magento(orders, ["LAMP", "SHADE"]) == {"LAMP": 3.0}
        assert queries.units_sold_not_in_magento(orders, ["LAMP"], until_shipped=True) == {"LAMP": 8.0}
        assert queries.units_sold_not_in_magento(orders, ["OTHER"]) == {}


def test_the_console_reads_counts_deadlines_and_searches_through_the_port() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="held", acceptance_deadline=NOW + 2 * HOUR)
    store.add("B-2", state="received", acceptance_deadline=NOW + HOUR)
    store.add("C-3", state="received")
    store.add("D-4", state="created", raw={"shipping_deadline": (NOW + 3 * HOUR).isoformat()},
              magento_increment_id="000123")
    store.add("E-5", state="accepted", raw={"shipping_deadline": (NOW - HOUR).isoformat()})
    store.add("F-6", state="created")  # no shipping deadline: not on the to-ship list
    with store.unit_of_work() as orders:
        assert views.counts_by_state(orders) == {"held": 1, "received": 2, "created": 2, "accepted": 1}
        assert [(d.order.order_id, d.seconds_left) for d in views.awaiting_decision(orders, NOW)] == [
            ("B-2", 3600.0), ("A-1", 7200.0), ("C-3", None)]
        assert [(d.order.order_id, d.seconds_left) for d in views.to_ship_by_deadline(orders, NOW)] == [
            ("E-5", -3600.0), ("D-4", 10800.0)]
        assert [o.order_id for o in views.search_orders(orders, q=" 0001 ")] == ["D-4"]
        assert [o.order_id for o in views.search_orders(orders, state="received")] == ["C-3", "B-2"]


def test_the_api_lists_this_connections_orders_with_amounts_as_numbers() -> None:
    store = FakeOrdersStore()
    store.add("A-1", lines=[{"magento_sku": "LAMP"}])
    store.add("B-2", connection="other")
    with store.unit_of_work() as orders:
        [summary] = [views.order_summary(o) for o in views.list_orders(orders, SETTINGS)]
    assert summary.order_id == "A-1" and summary.marketplace_totals.grand_total == 10.0
    assert store.units == 1


def test_an_acceptance_counts_the_units_other_undecided_orders_may_still_take() -> None:
    store = FakeOrdersStore()
    store.add("A-1", state="received", lines=[{"magento_sku": "LAMP", "quantity": 1}])  # the order being decided
    store.add("B-2", state="held", lines=[{"magento_sku": "LAMP", "quantity": 2},
                                          {"magento_sku": "SHADE", "quantity": 1, "accepted": False}])
    store.add("C-3", state="accepted", lines=[{"magento_sku": "LAMP", "quantity": 1}, {"offer_sku": "UNMATCHED"}])
    store.add("D-4", state="created", lines=[{"magento_sku": "LAMP", "quantity": 9}])  # Magento reserves these
    store.add("E-5", state="held", connection="other", lines=[{"magento_sku": "LAMP", "quantity": 9}])
    with store.unit_of_work() as orders:
        assert skus.open_reservations(orders, SETTINGS, "A-1") == {"LAMP": 3.0}


def test_only_person_confirmed_links_are_handed_to_sku_resolution() -> None:
    links = FakeSkuLinks()
    links.links = {"lamp-1 ": "LAMP-1", "SHADE": "SHADE-RED"}
    assert skus.confirmed_links(links, ["lamp-1 ", "LAMP-1", "OTHER", "lamp-1 "]) == {"lamp-1 ": "LAMP-1"}


def test_the_price_rules_are_the_stock_flows() -> None:
    stock = FakeStockRecords()
    rule = Rule(kind=Kind.PRICE, scope=Scope.GLOBAL, scope_key="", params={"markup_percent": 10})
    stock.stored_rules = [rule]
    assert skus.price_rules(stock) == [rule]


def _runtime(store: FakeOrdersStore) -> Runtime:
    """A runtime whose only storage is the orders fake (the database and other stores fail if used)."""
    return Runtime(settings=SETTINGS, db=NoDatabase(), bus=MessageBus(), engine=NoDatabase(),
                   webhook_handlers=WebhookHandlers(), flow_actions=FlowActions(), shipments_store=NoDatabase(),
                   refunds_store=NoDatabase(), catalogue_store=NoDatabase(), audit_store=NoDatabase(),
                   orders_store=store, people_store=NoDatabase(), alerts_store=NoDatabase(),
                   console_store=NoDatabase(), order_feed_store=NoDatabase())


def test_housekeeping_reminds_a_held_order_near_its_deadline_once_per_run() -> None:
    store = FakeOrdersStore()
    near = store.add("A-1", state="held", acceptance_deadline=NOW + dt.timedelta(minutes=30))
    far = store.add("B-2", state="held", acceptance_deadline=NOW + 100 * HOUR)
    now = NOW + dt.timedelta(minutes=30) - dt.timedelta(seconds=SETTINGS.order_acceptance_reminder_seconds / 2)
    result = order_service.housekeeping(_runtime(store), now=now)
    assert result["reminders"] == 1 and store.retention_passes == [now] and store.units == 1
    assert near.reminded_at == now and far.reminded_at is None
    assert store.issues.active(ORDER_ACCEPTANCE_DEADLINE_NEAR, "A-1") is not None
    assert store.issues.active(ORDER_ACCEPTANCE_DEADLINE_NEAR, "B-2") is None


def test_housekeeping_flags_a_stuck_order_and_clears_it_once_the_order_moves_on() -> None:
    store = FakeOrdersStore()
    order = store.add("A-1", state="created", marketplace_state="SHIPPING", state_changed_at=NOW)
    store.add("B-2", state="shipped", marketplace_state="SHIPPED", state_changed_at=NOW)  # not watched
    later = NOW + 1000 * HOUR
    with store.unit_of_work() as orders:
        assert upkeep.flag_stuck(orders, SETTINGS, later) == 1
    assert store.issues.active(ORDER_STUCK_UNSHIPPED, "A-1") is not None
    assert store.issues.active(ORDER_STUCK_UNSHIPPED, "B-2") is None
    order.state = "shipped"
    with store.unit_of_work() as orders:
        assert upkeep.flag_stuck(orders, SETTINGS, later) == 0
    assert store.issues.active(ORDER_STUCK_UNSHIPPED, "A-1") is None


def test_one_orders_detail_is_found_in_this_connection_only() -> None:
    store = FakeOrdersStore()
    store.add("A-1", lines=[{"magento_sku": "LAMP", "offer_sku": "lamp"}])
    store.add("B-2", connection="other")
    with store.unit_of_work() as orders:
        detail = views.find_order_detail(orders, SETTINGS, "A-1")
        assert views.find_order_detail(orders, SETTINGS, "B-2") is None
    assert detail is not None and [line.magento_sku for line in detail.lines] == ["LAMP"]
    assert detail.model_dump(by_alias=True)["marketplace_totals"]["grand_total"] == 10.0
