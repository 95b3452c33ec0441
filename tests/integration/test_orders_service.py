"""The orders services against both sandboxes over real HTTP and a real database (no DBOS)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx2
import pytest

from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.money import to_money
from marketbridge.services import issues as issue_service
from marketbridge.services import order_feed
from marketbridge.services import orders as order_service
from marketbridge.services.orders import creation, pulling
from marketbridge.services.orders import record as order_record
from tests.conftest import runtime_builder


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    yield from runtime_builder(migrated_db_url, fresh_sandboxes, order_poll_overlap_seconds=60)


def place(boxes, lines, **extra):
    body = {"lines": [{"offer_sku": sku, "quantity": qty} for sku, qty in lines], **extra}
    response = httpx2.post(boxes.mirakl_url + "/_sandbox/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def debit(boxes, order_id):
    response = httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders/{order_id}/debit")
    assert response.status_code == 200, response.text


def read_orders(runtime):
    """Bring the marketplace's orders in as the service does. With the order feed on (the default,
    issue 20): the feed's read (forced: a test does not wait for its schedule) hands the orders it
    has not mirrored yet to the orders flow, the orders poll the feed's workflow starts reads no
    OR11 of its own, and the read's changes are dispatched; returns the feed's read. With it off:
    the poll's own OR11 read, returned."""
    if not runtime.settings.order_feed_enabled:
        return order_service.pull(runtime)
    read = order_feed.read(runtime, force=True)
    assert read.skipped is None, read.skipped
    assert order_service.pull(runtime).source == "order feed"
    order_feed.dispatch(runtime)
    return read


def in_stock_skus(runtime, n=2, minimum=5):
    out = []
    for i in range(1, 120):
        sku = f"MB-{i:06d}"
        try:
            product = runtime.magento.get_product(sku)
        except Exception:
            continue
        if product.type_id == "simple" and product.enabled and runtime.magento.salable_quantity(sku, 1) >= minimum:
            offer = httpx2.get(f"{runtime.settings.mirakl_base_url}_sandbox/offers/{sku}")
            if offer.status_code == 200 and offer.json().get("quantity", 0) >= minimum:
                out.append(sku)
        if len(out) == n:
            return out
    raise AssertionError("seed catalogue has too few stocked SKUs")


def magento_orders_with(runtime, ext_id):
    return [o for o in runtime.magento.search_orders(SearchCriteria().where("ext_order_id", ext_id)).items
            if o.ext_order_id == ext_id]


def state_of(runtime, order_id):
    with runtime.db.session() as s:
        return order_service.get_order_record(SqlOrdersRepository(s), order_id).state


def test_accepted_paid_order_is_created_once_with_ext_order_id(rt, fresh_sandboxes):
    runtime = rt()
    sku_a, sku_b = in_stock_skus(runtime)
    order_id = place(fresh_sandboxes, [(sku_a, 1), (sku_b, 2)])
    first = read_orders(runtime)  # the feed's read: the orders flow stored the order as new
    assert first.orders_new == 1 and not first.failed
    with runtime.db.session() as s:
        assert [a.as_dict() for a in order_service.pending_actions(SqlOrdersRepository(s), runtime.settings)] == [
            {"phase": "accept", "order_id": order_id, "workflow_id": f"order-accept:{order_id}"}]
    decided = order_service.decide(runtime, order_id)
    assert decided.outcome == "accept" and decided.state == "accepted"
    debit(fresh_sandboxes, order_id)
    read_orders(runtime)
    assert state_of(runtime, order_id) == "awaiting_payment"
    with runtime.db.session() as s:
        assert [a.phase for a in order_service.pending_actions(SqlOrdersRepository(s), runtime.settings)] == ["create"]
    created = order_service.create_in_magento(runtime, order_id)
    assert created.magento_increment_id
    finished = order_service.finish_creation(runtime, order_id)
    assert finished.invoiced is True
    again = order_service.create_in_magento(runtime, order_id)  # a repeat finds the record
    assert again.already is True
    orders = magento_orders_with(runtime, order_id)
    assert len(orders) == 1
    magento_order = runtime.magento.get_order(orders[0].entity_id)
    assert magento_order.total_invoiced == pytest.approx(magento_order.grand_total)
    marker = [h.comment or "" for h in magento_order.status_histories if order_record.MARKER in (h.comment or "")]
    assert len(marker) == 1 and "Deliver between " in marker[0]  # OR11 delivery_date, for the warehouse
    with runtime.db.session() as s:
        record = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        detail = order_service.to_dict(record, detail=True)
    assert [t["to"] for t in detail["transitions"]] == ["received", "accepted", "awaiting_payment", "created"]
    assert detail["magento_increment_id"] == magento_order.increment_id


def test_crash_between_place_and_record_finds_the_order_instead_of_duplicating(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    with runtime.db.session() as s:
        order = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        s.expunge(order)
    # the order was placed and tagged, but our record was never written (a crash)
    creation._place(runtime, order)
    assert state_of(runtime, order_id) == "awaiting_payment"
    result = order_service.create_in_magento(runtime, order_id)
    assert result.found_existing is True
    assert len(magento_orders_with(runtime, order_id)) == 1


def test_a_record_lost_in_a_crash_is_found_after_the_marketplace_moved_past_shipping(rt, fresh_sandboxes):
    """Scale-out soak on PostgreSQL: a worker placed the Magento order and was killed before it
    recorded it; the warehouse shipped, OR24 was accepted and the marketplace moved to SHIPPED.
    The creation workflow, run again by the other worker, saw SHIPPED instead of SHIPPING and
    skipped for good: the order stayed "awaiting payment" and its units were held off the offer
    (the offer one unit under Adobe Commerce at the check)."""
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    with runtime.db.session() as s:
        order = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        s.expunge(order)
    creation._place(runtime, order)  # placed and tagged; the record was never written (a kill)
    with runtime.db.session() as s:
        order_service.get_order_record(SqlOrdersRepository(s), order_id).marketplace_state = "SHIPPED"  # as a later poll saw
    from marketbridge.services.orders.todo import pending_actions

    with runtime.db.session() as s:
        assert {"phase": "create", "order_id": order_id, "workflow_id": f"order-create:{order_id}"} in \
            [a.as_dict() for a in pending_actions(SqlOrdersRepository(s), runtime.settings)]
    result = order_service.create_in_magento(runtime, order_id)
    assert result.found_existing is True and not result.skipped
    assert state_of(runtime, order_id) == "created"
    assert len(magento_orders_with(runtime, order_id)) == 1


def test_an_order_past_shipping_on_the_marketplace_is_never_placed_again(rt, fresh_sandboxes):
    """The other side of the test above: with no Magento order found, an order the marketplace
    already shows as shipped is not placed (someone shipped it without us); it is skipped."""
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    with runtime.db.session() as s:
        order_service.get_order_record(SqlOrdersRepository(s), order_id).marketplace_state = "SHIPPED"
    result = order_service.create_in_magento(runtime, order_id)
    assert result.skipped and magento_orders_with(runtime, order_id) == []


def test_overlapping_polls_store_each_order_once(rt, fresh_sandboxes):
    # the poll's own OR11 read and its overlap (the feed off); the feed's: tests/integration/test_order_feed.py
    runtime = rt(order_feed_enabled=False)
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    assert order_service.pull(runtime).stored == 1
    second = order_service.pull(runtime)  # the overlap returns the same order again
    assert second.fetched == 1 and second.duplicates == 1 and second.stored == 0
    with runtime.db.session() as s:
        assert len(order_service.list_orders(SqlOrdersRepository(s), runtime.settings)) == 1
        assert len(order_service.get_order_record(SqlOrdersRepository(s), order_id).transitions) == 1


def test_unknown_sku_and_too_much_quantity_are_refused_with_reasons(rt, fresh_sandboxes):
    runtime = rt(acceptance_policy="refuse")
    (sku,) = in_stock_skus(runtime, 1)
    salable = runtime.magento.salable_quantity(sku, 1)
    # the marketplace offer has more than Magento can sell: push the offer quantity up behind our back
    httpx2.put(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/{sku}", json={"quantity": int(salable) + 50})
    order_id = place(fresh_sandboxes, [(sku, int(salable) + 1)])
    read_orders(runtime)
    result = order_service.decide(runtime, order_id)
    assert result.state == "refused"
    with runtime.db.session() as s:
        record = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        assert record.lines[0].reasons == ["insufficient_stock"]
        assert "not enough salable stock" in record.reason
        assert issue_service.is_active(s, orders_domain.ORDER_REFUSED, order_id)
    remote = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}").json()
    assert remote["order_state"] == "REFUSED"


def test_other_open_orders_count_against_salable_quantity(rt, fresh_sandboxes):
    runtime = rt(acceptance_policy="hold")
    (sku,) = in_stock_skus(runtime, 1, minimum=4)
    salable = int(runtime.magento.salable_quantity(sku, 1))
    httpx2.put(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/{sku}", json={"quantity": salable * 3})
    first = place(fresh_sandboxes, [(sku, salable - 1)])
    second = place(fresh_sandboxes, [(sku, 2)])
    read_orders(runtime)
    assert order_service.decide(runtime, first).outcome == "accept"
    held = order_service.decide(runtime, second)
    assert held.outcome == "hold" and held.state == "held"
    with runtime.db.session() as s:
        assert issue_service.is_active(s, orders_domain.ORDER_HELD, second)
        record = issue_service.list_records(s, issue_service.IssueFilter(type="order_held"))[0]
        assert "refuses it automatically at" in record.message
    # a person accepts it from the CLI/API: OR21 is sent and recorded
    decided = order_service.decide_by_person(runtime, second, True, actor="alice")
    assert decided.state == "accepted"
    with runtime.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_HELD, second)
        assert order_service.get_order_record(SqlOrdersRepository(s), second).transitions[-1].actor == "alice"


def test_trailing_space_sku_is_accepted_with_a_warning(rt, fresh_sandboxes):
    runtime = rt()
    order_id = place(fresh_sandboxes, [("MB-TRAILING-0001 ", 1)])
    read_orders(runtime)
    result = order_service.decide(runtime, order_id)
    assert result.outcome == "accept"
    with runtime.db.session() as s:
        line = order_service.get_order_record(SqlOrdersRepository(s), order_id).lines[0]
        assert (line.magento_sku, line.sku_match) == ("MB-TRAILING-0001", "normalised")
        assert issue_service.is_active(s, orders_domain.ORDER_SKU_NORMALISED, "MB-TRAILING-0001 ")


def test_foreign_currency_is_held(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)], currency_iso_code="EUR")
    read_orders(runtime)
    assert order_service.decide(runtime, order_id).state == "held"
    with runtime.db.session() as s:
        assert order_service.get_order_record(SqlOrdersRepository(s), order_id).lines[0].reasons == ["currency_mismatch"]


def test_cancellation_before_shipment_cancels_the_magento_order(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    before = runtime.magento.salable_quantity(sku, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    order_service.create_in_magento(runtime, order_id)
    order_service.finish_creation(runtime, order_id)
    assert runtime.magento.salable_quantity(sku, 1) == before - 1
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/cancel")
    read_orders(runtime)
    with runtime.db.session() as s:
        assert [a.phase for a in order_service.pending_actions(SqlOrdersRepository(s), runtime.settings)] == ["cancel"]
    result = order_service.cancel_in_magento(runtime, order_id)
    assert result.cancelled
    assert state_of(runtime, order_id) == "cancelled"
    assert runtime.magento.salable_quantity(sku, 1) == before
    # An invoiced order is cancelled with a credit memo; that memo is ours, not a refund to send
    # (John Lewis refunds its cancellations itself; found by the full soak).
    from marketbridge.services import refunds

    entity_id = magento_orders_with(runtime, order_id)[0].entity_id
    memos = [m for m in runtime.magento.iterate_creditmemos() if m.order_id == entity_id]
    assert result.cancelled == "credit_memo" and len(memos) == 1
    outcome = refunds.process(runtime, memos[0].entity_id)
    assert outcome.status == "ignored"
    with runtime.db.session() as s:
        assert issue_service.list_records(s, issue_service.IssueFilter(active_only=True, object_id=f"creditmemo:{memos[0].increment_id}")) == []
    from marketbridge.adapters.db.models.stock import StockHint

    with runtime.db.session() as s:  # the marketplace put the unit back on the offer: publish again
        hint = s.get(StockHint, sku)
        assert hint is not None and hint.stock and hint.exact and hint.force
    # forced, because the value to publish is usually the one last sent: the offer moved, not Magento
    from marketbridge.services.stock import push as stock_push

    stock_push.push_now(runtime)
    offer = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/{sku}").json()
    assert offer["quantity"] == int(runtime.magento.salable_quantity(sku, 1))


def test_a_cancellation_retried_after_its_credit_memo_landed_is_done_not_an_issue(rt, fresh_sandboxes):
    """Full soak: the first attempt's credit memo reached Adobe Commerce but its answer did not (a
    time-out under faults); the retry found the order *closed*, tried a second credit memo and
    got "A creditmemo can not be created when an order has a status of closed": an
    ``order_cancel_failed`` issue for ops about an order already cancelled as asked."""
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    before = runtime.magento.salable_quantity(sku, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    order_service.create_in_magento(runtime, order_id)
    order_service.finish_creation(runtime, order_id)
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/cancel")
    read_orders(runtime)
    entity_id = magento_orders_with(runtime, order_id)[0].entity_id
    runtime.magento.refund_order(entity_id, comment="the first attempt's memo")  # its answer was lost
    assert runtime.magento.get_order(entity_id).state == "closed"
    result = order_service.cancel_in_magento(runtime, order_id)
    assert result.cancelled == "already" and not result.failed
    assert state_of(runtime, order_id) == "cancelled"
    assert runtime.magento.salable_quantity(sku, 1) == before
    with runtime.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_CANCEL_FAILED, order_id)


def test_an_order_without_stock_waits_and_is_created_when_the_stock_is_back(rt, fresh_sandboxes):
    runtime = rt(order_stock_retry_seconds=1)
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    stock = {"sku": sku, "qty": 0}
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json=stock).raise_for_status()  # counted out
    assert order_service.create_in_magento(runtime, order_id).as_dict() == {"order_id": order_id, "waiting_for_stock": [sku]}
    assert magento_orders_with(runtime, order_id) == []
    with runtime.db.session() as s:
        assert issue_service.is_active(s, orders_domain.ORDER_WAITING_FOR_STOCK, order_id)
        assert not issue_service.is_active(s, orders_domain.ORDER_CREATION_FAILED, order_id)
        # not yet due: no new attempt
        assert order_service.retry_stock_waits(SqlOrdersRepository(s), runtime.settings) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    with runtime.db.session() as s:
        assert order_service.retry_stock_waits(SqlOrdersRepository(s), runtime.settings, now=later) == [order_id]
        [action] = [a for a in order_service.pending_actions(SqlOrdersRepository(s), runtime.settings) if a.order_id == order_id]
        assert action.workflow_id.endswith(":retry-1")  # a new workflow, as a person's retry
    with runtime.db.session() as s:  # until that attempt answers, no other is asked for (full soak)
        even_later = later + dt.timedelta(seconds=5)
        assert order_service.retry_stock_waits(SqlOrdersRepository(s), runtime.settings, now=even_later) == []
    stock["qty"] = 4
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json=stock).raise_for_status()  # booked in
    assert order_service.create_in_magento(runtime, order_id).magento_entity_id
    assert len(magento_orders_with(runtime, order_id)) == 1
    with runtime.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_WAITING_FOR_STOCK, order_id)


def test_magento_rejecting_the_order_raises_an_issue_and_creates_nothing(rt, fresh_sandboxes):
    runtime = rt(magento_payment_method="no_such_method")
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    result = order_service.create_in_magento(runtime, order_id)
    assert result.rejected
    assert state_of(runtime, order_id) == "awaiting_payment"
    assert magento_orders_with(runtime, order_id) == []
    with runtime.db.session() as s:
        assert issue_service.is_active(s, orders_domain.ORDER_CREATION_FAILED, order_id)


def test_cursor_never_passes_an_order_that_failed_to_store(rt, fresh_sandboxes, monkeypatch):
    # the poll's own OR11 cursor (the feed off); the feed's cursor: tests/integration/test_order_feed.py
    runtime = rt(order_poll_overlap_seconds=0, order_feed_enabled=False)
    (sku,) = in_stock_skus(runtime, 1)
    first = place(fresh_sandboxes, [(sku, 1)])
    second = place(fresh_sandboxes, [(sku, 1)])
    real = pulling.store_order

    def flaky(orders, settings, raw):
        if raw["order_id"] == first:
            raise RuntimeError("disk full")
        return real(orders, settings, raw)

    monkeypatch.setattr(pulling, "store_order", flaky)
    result = order_service.pull(runtime)
    assert result.failed == [first] and result.stored == 1
    with runtime.db.session() as s:
        cursor = pulling.read_cursor(SqlOrdersRepository(s), runtime.settings)
        failed_at = dt.datetime.fromisoformat(
            httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{first}").json()["last_updated_date"]
            .replace("Z", "+00:00"))
        assert cursor <= failed_at
    monkeypatch.setattr(pulling, "store_order", real)
    assert order_service.pull(runtime).stored == 1  # the failed one comes back on the next poll
    with runtime.db.session() as s:
        assert {o.order_id for o in order_service.list_orders(SqlOrdersRepository(s), runtime.settings)} == {first, second}


def test_missing_address_blocks_creation_with_an_issue(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    order_service.decide(runtime, order_id)
    debit(fresh_sandboxes, order_id)
    raw = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}").json()
    raw["customer"]["shipping_address"] = None
    raw["last_updated_date"] = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    with runtime.db.session() as s:
        pulling.store_order(runtime.orders_store.on_session(s), runtime.settings, raw)
        assert issue_service.is_active(s, orders_domain.ORDER_ADDRESS_MISSING, order_id)
        assert order_service.pending_actions(SqlOrdersRepository(s), runtime.settings) == []


def queued_quantity(runtime, sku):
    """The stock value the stock flow queues for the SKU after a forced, exact re-read."""
    from marketbridge.services import stock
    from marketbridge.services.stock import outbox
    from marketbridge.services.stock import refresh as stock_refresh

    with runtime.db.session() as session:
        stock.hint(session, [sku], stock=True, exact=True, force=True, reason="test")
    stock_refresh.refresh(runtime)
    with runtime.db.session() as session:
        return int(outbox.last_sent_values(session, outbox.Kind.STOCK, [sku])[sku])


def paid_order(runtime, boxes, lines, **extra):
    order_id = place(boxes, lines, **extra)
    read_orders(runtime)
    assert order_service.decide(runtime, order_id).state == "accepted"
    debit(boxes, order_id)
    read_orders(runtime)
    assert state_of(runtime, order_id) == "awaiting_payment"
    return order_id


def stocked_child(runtime, boxes):
    for p in range(1, 4):
        for child in runtime.magento.configurable_children(f"MB-CFG-{p:04d}"):
            offer = httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{child.sku}")
            if (runtime.magento.salable_quantity(child.sku, 1) >= 2 and offer.status_code == 200
                    and offer.json().get("quantity", 0) >= 2):
                return f"MB-CFG-{p:04d}", child.sku
    raise AssertionError("no stocked configurable child in the seed")


def test_configurable_child_is_added_through_its_parent_and_options(rt, fresh_sandboxes):
    runtime = rt()
    parent_sku, child_sku = stocked_child(runtime, fresh_sandboxes)
    order_id = paid_order(runtime, fresh_sandboxes, [(child_sku, 1)])
    created = order_service.create_in_magento(runtime, order_id)
    magento_order = runtime.magento.get_order(created.magento_entity_id)
    parent_item = magento_order.top_level_items()[0]
    assert parent_item.product_type == "configurable"
    assert parent_item.sku == child_sku
    children = [i for i in magento_order.items if i.parent_item_id == parent_item.item_id]
    assert [c.sku for c in children] == [child_sku]
    assert parent_item.product_option["extension_attributes"]["configurable_item_options"]


def _retarget(runtime, order_id, magento_sku):
    with runtime.db.session() as s:
        order_service.get_order_record(SqlOrdersRepository(s), order_id).lines[0].magento_sku = magento_sku


def test_bundle_is_added_with_its_default_selections(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    _retarget(runtime, order_id, "MB-BUNDLE-0001")  # as if the offer were the bundle
    created = order_service.create_in_magento(runtime, order_id)
    magento_order = runtime.magento.get_order(created.magento_entity_id)
    top = magento_order.top_level_items()[0]
    assert top.product_type == "bundle"
    defaults = sorted(link.sku for option in runtime.magento.bundle_options("MB-BUNDLE-0001")
                      for link in option.product_links if link.is_default)
    assert sorted(i.sku for i in magento_order.items if i.parent_item_id == top.item_id) == defaults


def test_required_custom_option_without_a_value_blocks_then_uses_the_configured_value(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    _retarget(runtime, order_id, "MB-ENGRAVED-0001")
    blocked = order_service.create_in_magento(runtime, order_id)
    assert "Engraving text" in blocked.blocked
    assert magento_orders_with(runtime, order_id) == []
    with runtime.db.session() as s:
        assert issue_service.is_active(s, orders_domain.ORDER_CUSTOM_OPTION_MISSING, order_id)
    configured = rt(order_custom_option_values={"MB-ENGRAVED-0001": {"Engraving text": "No engraving"}})
    created = order_service.create_in_magento(configured, order_id)
    item = configured.magento.get_order(created.magento_entity_id).top_level_items()[0]
    assert item.sku == "MB-ENGRAVED-0001"
    assert "No engraving" in str(item.product_option)
    with configured.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_CUSTOM_OPTION_MISSING, order_id)


def test_order_cancelled_by_the_customer_while_being_decided_is_recorded_not_accepted(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/cancel")  # changes state meanwhile
    result = order_service.decide(runtime, order_id)
    assert result.rejected
    assert state_of(runtime, order_id) == "cancelled"
    with runtime.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_DECISION_FAILED, order_id)


def test_direct_creation_keeps_marketplace_totals(rt, fresh_sandboxes):
    runtime = rt(order_creation_mode="direct")
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 2)])
    created = order_service.create_in_magento(runtime, order_id)
    finished = order_service.finish_creation(runtime, order_id)
    magento_order = runtime.magento.get_order(created.magento_entity_id)
    with runtime.db.session() as s:
        record = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        assert isinstance(record.total_price, Decimal)
        assert to_money(magento_order.grand_total) == record.total_price  # exact: the same decimal both sides
    assert magento_order.ext_order_id == order_id
    assert finished.differences == ()


def test_cart_totals_that_differ_raise_a_finance_issue(rt, fresh_sandboxes):
    runtime = rt()  # Magento's flat rate is 5.00 per item; this marketplace order charged 2.50 delivery
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 3)], shipping_price=2.5)
    order_service.create_in_magento(runtime, order_id)
    finished = order_service.finish_creation(runtime, order_id)
    assert "shipping" in finished.differences
    with runtime.db.session() as s:
        record = issue_service.list_records(s, issue_service.IssueFilter(type="order_totals_mismatch"))[0]
        assert record.owner == "finance" and order_id in record.message


def test_housekeeping_reminds_flags_stuck_orders_and_purges_personal_data(rt, fresh_sandboxes):
    runtime = rt(acceptance_policy="hold")
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)], currency_iso_code="EUR")
    read_orders(runtime)
    assert order_service.decide(runtime, order_id).state == "held"
    with runtime.db.session() as s:
        deadline = order_service.get_order_record(SqlOrdersRepository(s), order_id).acceptance_deadline
    soon = deadline - dt.timedelta(minutes=30)
    assert order_service.housekeeping(runtime, now=soon)["reminders"] == 1
    with runtime.db.session() as s:
        assert issue_service.is_active(s, orders_domain.ORDER_ACCEPTANCE_DEADLINE_NEAR, order_id)
    stuck_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    assert order_service.housekeeping(runtime, now=later)["stuck"] >= 1
    with runtime.db.session() as s:
        assert issue_service.is_active(s, orders_domain.ORDER_STUCK_IN_INTEGRATION, stuck_id)
    order_service.create_in_magento(runtime, stuck_id)
    order_service.housekeeping(runtime, now=dt.datetime.now(dt.UTC))
    with runtime.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_STUCK_IN_INTEGRATION, stuck_id)  # moved on: cleared
        record = order_service.get_order_record(SqlOrdersRepository(s), stuck_id)
        assert record.customer_name and record.shipping_address
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=runtime.settings.personal_data_retention_days + 1)
    # the created one and the held one alike: an order that never reached Adobe Commerce is purged too
    assert order_service.housekeeping(runtime, now=far)["purged"] == 2
    with runtime.db.session() as s:
        record = order_service.get_order_record(SqlOrdersRepository(s), stuck_id)
        assert record.customer_name is None and record.shipping_address is None
        assert record.raw["customer"]["shipping_address"] is None and record.raw["customer"]["lastname"] is None
        assert record.magento_increment_id  # what fulfilment needs stays
        held = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        assert held.state == "held" and held.customer_name is None and held.personal_data_purged_at is not None


def test_unknown_offer_sku_is_refused(rt, fresh_sandboxes):
    runtime = rt(acceptance_policy="refuse")
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    with runtime.db.session() as s:  # as if the marketplace sold an offer whose SKU Magento does not know
        order_service.get_order_record(SqlOrdersRepository(s), order_id).lines[0].offer_sku = "NOT-IN-MAGENTO-1"
    assert order_service.decide(runtime, order_id).state == "refused"
    with runtime.db.session() as s:
        line = order_service.get_order_record(SqlOrdersRepository(s), order_id).lines[0]
        assert (line.sku_match, line.magento_sku, line.reasons) == ("none", None, ["unknown_sku"])


def test_held_orders_follow_the_marketplace_auto_refusal_and_back_office_acceptance(rt, fresh_sandboxes):
    runtime = rt(acceptance_policy="hold")
    (sku,) = in_stock_skus(runtime, 1)
    lapsed = place(fresh_sandboxes, [(sku, 1)], currency_iso_code="EUR")
    elsewhere = place(fresh_sandboxes, [(sku, 1)], currency_iso_code="EUR")
    read_orders(runtime)
    assert order_service.decide(runtime, lapsed).state == "held"
    assert order_service.decide(runtime, elsewhere).state == "held"
    runtime.mirakl.accept_order(elsewhere, {f"{elsewhere}-1": True})  # decided in the back office
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/clock/advance", json={"seconds": 86400 + 60})
    read_orders(runtime)
    with runtime.db.session() as s:
        refused = order_service.get_order_record(SqlOrdersRepository(s), lapsed)
        assert refused.state == "refused" and "automatically" in refused.reason
        assert refused.transitions[-1].facts["automatic"] is True
        assert not issue_service.is_active(s, orders_domain.ORDER_HELD, lapsed)
        assert issue_service.is_active(s, orders_domain.ORDER_REFUSED, lapsed)
        followed = order_service.get_order_record(SqlOrdersRepository(s), elsewhere)
        assert [t.to_state for t in followed.transitions] == ["received", "held", "accepted", "awaiting_payment"]


def test_cancellation_after_the_warehouse_shipped_goes_to_customer_service(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    created = order_service.create_in_magento(runtime, order_id)
    order_service.finish_creation(runtime, order_id)
    shipped = httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/ship", json={"order_id": created.magento_entity_id})
    assert shipped.status_code < 300, shipped.text
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/cancel")  # before OR24 reached Mirakl
    read_orders(runtime)
    assert order_service.cancel_in_magento(runtime, order_id).as_dict() == {"order_id": order_id, "shipped": True}
    assert state_of(runtime, order_id) == "created"
    with runtime.db.session() as s:
        record = issue_service.list_records(s, issue_service.IssueFilter(type="order_cancelled_after_shipment"))[0]
        assert record.owner == "customer_service" and record.object_id == order_id


def test_a_poll_and_a_decision_cannot_overwrite_each_others_transition(rt, fresh_sandboxes):
    from marketbridge.ports import OrderChangedUnderUs

    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    with pytest.raises(OrderChangedUnderUs):  # the port's name for SQLAlchemy's StaleDataError
        with runtime.orders_store.unit_of_work() as decision:
            stale = order_service.get_order_record(decision, order_id)  # read while "received"
            with runtime.orders_store.unit_of_work() as poll:
                order_service.record_transition(poll, order_id, "awaiting_payment", actor="marketplace")
            order_record._transition(decision, stale, "accepted")
    assert state_of(runtime, order_id) == "awaiting_payment"


def test_a_record_left_behind_catches_up_on_the_next_duplicate_poll(rt, fresh_sandboxes):
    # the poll's own OR11 read hands every order again (the feed off); the feed hands only what its
    # mirror does not hold yet
    runtime = rt(order_feed_enabled=False)
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    order_service.pull(runtime)
    runtime.mirakl.accept_order(order_id, {f"{order_id}-1": True})
    debit(fresh_sandboxes, order_id)
    order_service.pull(runtime)  # stores SHIPPING; our record follows to awaiting_payment
    with runtime.db.session() as s:  # as after the lost update the benchmark found: state behind the payload
        record = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        record.state = "accepted"
    assert order_service.pull(runtime).stored == 1  # same update date, but the record catches up
    assert state_of(runtime, order_id) == "awaiting_payment"


def test_with_the_feed_on_the_poll_catches_a_record_left_behind_up_without_reading(rt, fresh_sandboxes):
    """The feed hands an order only when its mirror lacks that version, so the duplicate that
    caught a record up on the OR11 path (above) never comes: the poll does it from what is stored."""
    runtime = rt()
    assert runtime.settings.order_feed_enabled
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    runtime.mirakl.accept_order(order_id, {f"{order_id}-1": True})
    debit(fresh_sandboxes, order_id)
    read_orders(runtime)  # stores SHIPPING; our record follows to awaiting_payment
    assert state_of(runtime, order_id) == "awaiting_payment"
    with runtime.db.session() as s:  # as after the lost update the benchmark found: state behind the payload
        record = order_service.get_order_record(SqlOrdersRepository(s), order_id)
        record.state = "accepted"
    polled = order_service.pull(runtime)
    assert (polled.source, polled.fetched, polled.caught_up) == ("order feed", 0, 1)
    assert state_of(runtime, order_id) == "awaiting_payment"
    assert order_service.pull(runtime).caught_up == 0  # nothing left behind: nothing touched


def test_an_order_cancelled_while_it_was_being_created_is_cancelled_in_magento(rt, fresh_sandboxes, monkeypatch):
    """Two workers: one places the Magento order while the other records the marketplace's
    cancellation (found by the scale-out soak). The Magento order must not stay live."""
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    before = runtime.magento.salable_quantity(sku, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    real_place = creation._place

    def place_while_cancelled(runtime_, order):
        entity_id = real_place(runtime_, order)
        with runtime.orders_store.unit_of_work() as s:  # the other worker's pull, meanwhile
            order_service.record_transition(s, order_id, orders_domain.OrderState.CANCELLED, actor="marketplace",
                                      connection=runtime.settings.order_connection)
        return entity_id

    monkeypatch.setattr(creation, "_place", place_while_cancelled)
    result = order_service.create_in_magento(runtime, order_id)
    assert result.cancelled_meanwhile == "cancelled"
    [magento_order] = magento_orders_with(runtime, order_id)
    assert magento_order.state == "canceled"
    assert runtime.magento.salable_quantity(sku, 1) == before  # reservation released
    assert order_service.finish_creation(runtime, order_id).skipped  # never invoiced
    assert state_of(runtime, order_id) == "cancelled"


def test_a_cancellation_closes_the_wait_for_stock(rt, fresh_sandboxes):
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json={"sku": sku, "qty": 0}).raise_for_status()
    assert order_service.create_in_magento(runtime, order_id).waiting_for_stock
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/cancel").raise_for_status()
    read_orders(runtime)
    assert state_of(runtime, order_id) == "cancelled"
    with runtime.db.session() as s:  # nothing left for Ops to do (found by the full soak)
        assert not issue_service.is_active(s, orders_domain.ORDER_WAITING_FOR_STOCK, order_id)


def test_an_order_cancelled_before_its_invoice_is_not_invoiced_nor_checked(rt, fresh_sandboxes):
    """Cancelled on the marketplace between creation and invoicing (the full soak): no invoice, no
    totals check against cancelled lines, and the cancellation is a plain Magento cancel."""
    runtime = rt()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    assert order_service.create_in_magento(runtime, order_id).magento_entity_id
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/cancel").raise_for_status()
    read_orders(runtime)
    assert order_service.finish_creation(runtime, order_id).skipped
    with runtime.db.session() as s:
        assert not issue_service.is_active(s, orders_domain.ORDER_TOTALS_MISMATCH, order_id)
    assert order_service.cancel_in_magento(runtime, order_id).cancelled == "cancelled"


def test_units_sold_on_the_marketplace_stay_off_the_offer_until_magento_holds_them(rt, fresh_sandboxes):
    """Between the sale on Mirakl and the order's creation in Adobe Commerce, Magento still counts
    the units as salable. A stock push in that window must not put them back on the offer."""
    from marketbridge.adapters.db.models.stock import SkuState
    from marketbridge.services import audit

    runtime = rt()

    sku = in_stock_skus(runtime, n=1)[0]
    salable = int(runtime.magento.salable_quantity(sku, 1))
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 2)])
    assert runtime.magento.salable_quantity(sku, 1) == salable  # Magento does not know the sale yet
    outcome = audit.run_audit(runtime)  # the offer is 2 lower than Magento says: rightly, not drift
    assert sku not in {d.offer_sku for d in outcome.drifts if d.kind.value == "quantity_mismatch"}
    assert queued_quantity(runtime, sku) == salable - 2
    with runtime.db.session() as session:
        state = session.get(SkuState, sku)
        assert "2 sold on the marketplace, not yet in Adobe Commerce" in state.stock_rule

    assert order_service.create_in_magento(runtime, order_id).magento_entity_id
    assert runtime.magento.salable_quantity(sku, 1) == salable - 2  # Magento's reservation took over
    assert queued_quantity(runtime, sku) == salable - 2  # counted once, not twice


@pytest.mark.parametrize("policy", ["refuse", "hold"])
def test_a_second_decision_never_overwrites_an_acceptance_the_marketplace_already_has(rt, fresh_sandboxes,
                                                                                         monkeypatch, policy):
    """Full soak, order JL-000796-A, lost: a first decision's OR21 accept took effect but its answer
    was lost (an injected time-out), and the step decided again. While the second decision read
    Adobe Commerce, the poll stored the order paid and its line accepted; the second decision then
    found no stock, wrote "refused" over the line, had its OR21 rejected, and creation later found
    "no accepted line to create" (with the hold policy, the decision failed on the transition).
    A decision applies only to an order still waiting for one."""
    from marketbridge.services.orders import decisions

    runtime = rt(acceptance_policy=policy)
    sku = in_stock_skus(runtime, n=1)[0]
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    real_salable = decisions._salable

    def accepted_and_paid_meanwhile(*args, **kwargs):
        line_id = runtime.mirakl.get_order(order_id).order_lines[0].order_line_id
        runtime.mirakl.accept_order(order_id, {line_id: True})  # the first decision, its answer lost
        debit(fresh_sandboxes, order_id)
        read_orders(runtime)
        real_salable(*args, **kwargs)
        return 0.0  # the stock went meanwhile: this decision would refuse

    monkeypatch.setattr(decisions, "_salable", accepted_and_paid_meanwhile)
    result = order_service.decide(runtime, order_id)
    assert result.state == "awaiting_payment"
    with runtime.db.session() as session:
        order = order_service.get_order_record(SqlOrdersRepository(session), order_id)
        assert [line.accepted for line in order.lines] == [True], "the marketplace's acceptance was overwritten"
    assert order_service.create_in_magento(runtime, order_id).magento_entity_id


def test_an_order_created_in_magento_during_a_stock_read_is_read_again(rt, fresh_sandboxes, monkeypatch):
    """Soak dossiers MB-000194 (42.7 s) and MB-000079 (36 s): an offer one unit above what Magento
    allowed. A stock read took Magento's salable quantity; before it wrote, the order was created in
    Magento (its reservation took the unit) and moved to created, so the read found no unit held
    back either and published one unit too many. Nothing read the SKU again until the next poll:
    the move to created must hint the order's SKUs, like every other move that changes the sum."""
    from marketbridge.services.stock import push as stock_push
    from marketbridge.services.stock import refresh as stock_refresh

    runtime = rt()
    sku = in_stock_skus(runtime, n=1)[0]
    salable = int(runtime.magento.salable_quantity(sku, 1))
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    assert queued_quantity(runtime, sku) == salable - 1
    stock_push.push_now(runtime)

    from tests.integration.test_stock_in_flight import hook_first_read

    def created_during_the_first_read() -> None:
        assert order_service.create_in_magento(runtime, order_id).magento_entity_id

    reads = hook_first_read(monkeypatch, created_during_the_first_read)
    from marketbridge.services import stock

    with runtime.db.session() as session:
        stock.hint(session, [sku], stock=True, exact=True, reason="test: a change to read")
    stock_refresh.refresh(runtime)
    stock_push.push_now(runtime)
    assert runtime.magento.salable_quantity(sku, 1) == salable - 1
    offer = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/{sku}").json()
    assert len(reads) >= 2, "the order's creation in Magento during the read was never read"
    assert offer["quantity"] == salable - 1


def test_a_line_refused_under_partial_acceptance_republishes_its_offer(rt, fresh_sandboxes):
    """Mirakl puts a refused line's units back on its offer; the offer must then show Magento's
    figure again (here 0), not the units of a sale that never happened."""
    from marketbridge.adapters.db.models.stock import StockHint

    runtime = rt(partial_acceptance=True)
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/settings", json={"partial_acceptance": True})
    kept, gone = in_stock_skus(runtime, n=2)
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json={"sku": gone, "qty": 0})
    order_id = place(fresh_sandboxes, [(kept, 1), (gone, 1)])
    read_orders(runtime)
    assert order_service.decide(runtime, order_id).state == "accepted"
    with runtime.db.session() as session:
        hint = session.get(StockHint, gone)
        assert hint is not None and hint.force and hint.exact


def test_finishing_survives_the_warehouse_moving_the_order_on_between_read_and_comment(rt, fresh_sandboxes,
                                                                                     monkeypatch):
    """The soak found orders never invoiced: the totals comment carried the status read a moment
    before, the warehouse had shipped the order since, Magento refused the comment and the step
    failed. The comment is re-sent under the status the order has now, and the invoice follows."""
    runtime = rt()
    sku = in_stock_skus(runtime, n=1)[0]
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 1)])
    entity_id = order_service.create_in_magento(runtime, order_id).magento_entity_id
    stale = runtime.magento.get_order(entity_id)
    assert stale.status == "pending"
    shipped = httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/ship", json={"order_id": entity_id})
    assert shipped.status_code < 300
    real_get = runtime.magento.get_order
    reads = iter([stale])
    monkeypatch.setattr(runtime.magento, "get_order", lambda i: next(reads, None) or real_get(i))

    finished = order_service.finish_creation(runtime, order_id)
    assert finished.invoiced is True
    order = real_get(entity_id)
    assert order.status != "pending" and any(order_record.MARKER in (h.comment or "") for h in order.status_histories)


def test_a_decision_overtaken_by_one_sent_before_a_kill_follows_the_marketplace(rt, fresh_sandboxes):
    """Found by the full soak: an acceptance reached Mirakl, the process was killed before recording
    it, and after the restart the rules (stock gone meanwhile) said refuse. Mirakl rejected the
    refusal, but our lines stayed 'refused', and the paid order was never created ("no accepted
    line"). The marketplace's line states now decide what was accepted."""
    runtime = rt(acceptance_policy="refuse")
    sku = in_stock_skus(runtime, n=1)[0]
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    with runtime.db.session() as session:
        line_ids = [line.order_line_id for line in order_service.get_order_record(SqlOrdersRepository(session), order_id).lines]
    runtime.mirakl.accept_order(order_id, dict.fromkeys(line_ids, True))  # sent; then the kill
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json={"sku": sku, "qty": 0})

    second = order_service.decide(runtime, order_id)  # after the restart, on the record left behind
    assert second.rejected
    with runtime.db.session() as session:
        assert [line.accepted for line in order_service.get_order_record(SqlOrdersRepository(session), order_id).lines] == [True]
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json={"sku": sku, "qty": 5})
    debit(fresh_sandboxes, order_id)
    read_orders(runtime)
    assert state_of(runtime, order_id) == "awaiting_payment"
    assert order_service.create_in_magento(runtime, order_id).magento_entity_id
    assert len(magento_orders_with(runtime, order_id)) == 1


def test_direct_creation_holds_sold_units_back_until_the_order_ships(rt, fresh_sandboxes):
    """``direct`` creation makes no reservation: Magento's salable quantity drops only at the
    shipment, so the stock flow keeps the sold units off the offer until the order is shipped."""
    from marketbridge.adapters.db.models.stock import StockHint

    runtime = rt(order_creation_mode="direct")

    sku = in_stock_skus(runtime, n=1)[0]
    salable = int(runtime.magento.salable_quantity(sku, 1))
    order_id = paid_order(runtime, fresh_sandboxes, [(sku, 2)])
    assert order_service.create_in_magento(runtime, order_id).magento_entity_id
    assert runtime.magento.salable_quantity(sku, 1) == salable  # no reservation in direct mode
    assert queued_quantity(runtime, sku) == salable - 2

    with runtime.db.session() as session:
        order_service.record_transition(runtime.orders_store.on_session(session), order_id, "shipped",
                                        actor="shipments")
        assert session.get(StockHint, sku) is not None  # shipped: the SKU is read again


def test_a_sale_makes_the_offer_published_again_even_when_the_value_is_unchanged(rt, fresh_sandboxes):
    """Found by the quick soak (MB-000074: marketplace 0, Magento 1). A sale takes a unit off the
    offer on Mirakl; stock booked in meanwhile made our value equal to the one sent before the
    sale, so nothing was sent and the offer kept one unit less. A decided order now re-publishes
    its SKUs, forced."""
    from marketbridge.adapters.db.models.stock import StockHint
    from marketbridge.services.stock import outbox
    from marketbridge.services.stock import refresh as stock_refresh

    runtime = rt()
    sku = in_stock_skus(runtime, n=1)[0]
    salable = int(runtime.magento.salable_quantity(sku, 1))
    order_id = place(fresh_sandboxes, [(sku, 1)])
    read_orders(runtime)
    assert order_service.decide(runtime, order_id).state == "accepted"
    with runtime.db.session() as session:
        hint = session.get(StockHint, sku)
        assert hint is not None and hint.force
    # the warehouse books one unit in: Magento minus the sale equals what was published before it
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json={"sku": sku, "qty": salable + 1})
    stock_refresh.refresh(runtime)
    with runtime.db.session() as session:
        assert outbox.last_sent_values(session, outbox.Kind.STOCK, [sku])[sku] == str(salable)
